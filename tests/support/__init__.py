"""Helpers for the tests, one per job:

- httpstub.py: the one base for stand-in HTTP servers (``StubServer``,
  ``start_server``) and the stand-in for a ``-notify-url`` (``Receiver``);
- plexstub.py, sources.py: the stand-in Plex, its notification stream and
  a headless Plexamp, on that base;
- daemon.py: the daemon as a subprocess (``Daemon``, ``start_daemon``,
  ``start_stub``, ``E2ECase``), ``wait_for``, ``clean_env``,
  ``process_gone``, ``run_cli``, ``write_token``;
- logfmt.py: the one reader of log lines (``parse_log_line``,
  ``parse_fields``);
- webhooks.py: requests to the daemon, fixtures, and the one multipart
  builder (``multipart``, ``form_part``, ``multipart_body``);
- camilladsp.py, wsserver.py: the stand-in CamillaDSP, on a small websocket server;
- mqttbroker.py: the stand-in MQTT broker (strict, recording, faults on demand);
- mosquitto.py: a real mosquitto of the test's own, with its command-line clients;
- background.py: a call run on a thread of its own, its outcome waited for;
- tls.py, procstat.py, model.py, logs.py: a test CA, /proc readings, domain objects,
  captured log records.
"""
