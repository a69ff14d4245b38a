"""Send webhooks and plain requests to a daemon the way Plex Media Server does.

PMS builds its webhook body with libcurl's MIME code: the boundary is 24
dashes plus 22 alphanumerics, lines end in CRLF, the ``payload`` part comes
first (compact JSON) and an optional ``thumb`` part (a JPEG) second.

``multipart`` is the tests' one builder of multipart bodies (from parts
made with ``form_part``, or written by hand to be odd); ``multipart_body``
builds the webhook PMS sends with it.
"""

import http.client
import os
import random
import socket
import string

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")

PLEX_USER_AGENT = "PlexMediaServer/1.41.8.9834-071366d65"
WEBHOOK_PATH = "/webhooks/plex"

_ALPHANUMERICS = string.ascii_letters + string.digits


def fixture(name):
    """The bytes of ``tests/fixtures/<name>``."""
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


def make_boundary(rng=None):
    """A libcurl-shaped boundary: 24 dashes and 22 alphanumerics."""
    rng = rng or random.Random()
    return "-" * 24 + "".join(rng.choice(_ALPHANUMERICS) for _ in range(22))


def form_part(name, data, filename=None, content_type="application/json"):
    """One form-data part: its head (Content-Disposition, Content-Type), a blank line, ``data``."""
    disposition = 'form-data; name="%s"' % name
    if filename:
        disposition += '; filename="%s"' % filename
    head = "Content-Disposition: %s\r\n" % disposition
    if content_type:
        head += "Content-Type: %s\r\n" % content_type
    return head.encode("ascii") + b"\r\n" + data


def multipart(*parts, boundary, close=True):
    """A multipart body: each part (bytes, head and data) after a delimiter line.

    The body ends with the closing delimiter unless ``close`` is false.
    """
    delimiter = b"--" + boundary.encode("ascii")
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    if close:
        body += delimiter + b"--\r\n"
    return body


def multipart_content_type(boundary):
    return "multipart/form-data; boundary=" + boundary


def multipart_body(payload_bytes, thumb=None, boundary=None):
    """Return ``(content_type, body)`` for a PMS-style multipart webhook."""
    boundary = boundary or make_boundary()
    if isinstance(payload_bytes, str):
        payload_bytes = payload_bytes.encode("utf-8")
    parts = [form_part("payload", payload_bytes)]
    if thumb is not None:
        parts.append(form_part("thumb", thumb, filename="thumb.jpg", content_type="image/jpeg"))
    return multipart_content_type(boundary), multipart(*parts, boundary=boundary)


def request(port, method, path, body=b"", headers=None, timeout=5, host="127.0.0.1"):
    """One request to host:port on a fresh connection; ``(status, headers_dict, body_bytes)``.

    Header names in the returned dict are lower case.
    """
    send_headers = {"User-Agent": PLEX_USER_AGENT, "Accept": "*/*"}
    if headers:
        send_headers.update(headers)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if method in ("POST", "PUT", "PATCH") or body:
            send_headers.setdefault("Content-Length", str(len(body)))
        connection.request(method, path, body=body or None, headers=send_headers)
        answer = connection.getresponse()
        data = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
    finally:
        connection.close()


def post(port, body=b"", content_type=None, path=WEBHOOK_PATH, headers=None, timeout=5):
    """POST ``body`` as PMS would; return ``(status, headers_dict, body_bytes)``."""
    all_headers = {}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    if headers:
        all_headers.update(headers)
    return request(port, "POST", path, body, all_headers, timeout)


def post_webhook(port, payload_name, thumb=False, timeout=5):
    """POST the fixture ``payload_name`` as a multipart webhook (with thumb.jpg if asked)."""
    content_type, body = multipart_body(
        fixture(payload_name), thumb=fixture("thumb.jpg") if thumb else None)
    return post(port, body, content_type, timeout=timeout)


def get(port, path, headers=None, timeout=5):
    """GET ``path``; return ``(status, headers_dict, body_bytes)``."""
    return request(port, "GET", path, b"", headers, timeout)


def raw_exchange(port, data, half_close=False, timeout=5):
    """Write ``data`` as is on a fresh connection and read one answer.

    ``half_close`` shuts the write side after sending, as a client that
    gave up half way through its body would. Returns ``(status,
    headers_dict, body_bytes)``; the body is read up to its Content-Length.
    """
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = http.client.HTTPResponse(sock, method="POST")
        answer.begin()
        body = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body
    finally:
        sock.close()


def head(path=WEBHOOK_PATH, length=0, extra=b"", method=b"POST"):
    """A request head as bytes, with a Content-Length and any extra header lines."""
    return (method + b" " + path.encode("ascii") + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n" % length
            + extra + b"\r\n")


def read_status(sock):
    """The status of the next answer on ``sock`` (0 when the connection ended first)."""
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
