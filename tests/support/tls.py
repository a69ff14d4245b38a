"""A throw-away certificate authority and a server certificate for 127.0.0.1.

Made with the ``openssl`` command (``.ci/run`` installs it when it is
missing), with the extensions Python 3.13's strict verification asks for:
a critical ``basicConstraints`` on the authority, key identifiers, and the
server's address in ``subjectAltName``.
"""

import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

LEAF_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


class TestCA:
    """``ca_file``, ``cert_file`` and ``key_file`` paths in a temporary folder."""

    def __init__(self, testcase):
        openssl = shutil.which("openssl")
        if not openssl:
            raise unittest.SkipTest("openssl is not installed (.ci/run installs it)")
        self.dir = tempfile.mkdtemp(prefix="sbz-tls-")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        self.ca_file = self.path("ca.pem")
        self.cert_file = self.path("server.pem")
        self.key_file = self.path("server.key")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._run(openssl, "req", "-x509", *ec, "-keyout", self.path("ca.key"),
                  "-out", self.ca_file, "-days", "2", "-subj", "/CN=StreamerBrainz test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                  "-addext", "subjectKeyIdentifier=hash")
        self._run(openssl, "req", "-new", *ec, "-keyout", self.key_file,
                  "-out", self.path("server.csr"), "-subj", "/CN=127.0.0.1")
        with open(self.path("leaf.ext"), "w") as handle:
            handle.write(LEAF_EXTENSIONS)
        self._run(openssl, "x509", "-req", "-in", self.path("server.csr"), "-CA", self.ca_file,
                  "-CAkey", self.path("ca.key"), "-CAcreateserial", "-days", "2",
                  "-out", self.cert_file, "-extfile", self.path("leaf.ext"))

    def path(self, name):
        return os.path.join(self.dir, name)

    @staticmethod
    def _run(*argv):
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30)
        if proc.returncode != 0:
            raise AssertionError("%s failed:\n%s" % (" ".join(argv[:3]),
                                                     proc.stdout.decode("utf-8", "replace")))

    def server_context(self):
        """An ``ssl.SSLContext`` for a server that shows the 127.0.0.1 certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context
