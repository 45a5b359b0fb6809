#!/usr/bin/env python3
"""A token service for Debian's docker-registry (`auth: token:`), for the
Archon registry tests.

  registry_token.py PORT KEY.pem CERT.pem ISSUER USER:PASSWORD

Serves GET /token?service=S&scope=repository:NAME:ACTIONS (scope
repeatable) on 127.0.0.1:PORT.  HTTP Basic with USER:PASSWORD gets an ES256
JWT granting the asked actions, signed with KEY and carrying CERT in its
x5c header (the registry's rootcertbundle holds CERT); no credentials or
wrong ones get 401.  Logs one line per request to stdout.
"""
import base64, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

port, key_file, cert_file, issuer, creds = sys.argv[1:6]
key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
cert = x509.load_pem_x509_certificate(open(cert_file, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
want_auth = "Basic " + base64.b64encode(creds.encode()).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims):
    head = b64url(json.dumps({"typ": "JWT", "alg": "ES256", "x5c": [x5c]}).encode())
    body = b64url(json.dumps(claims).encode())
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        auth = self.headers.get("Authorization")
        print(f"token {u.query} auth={'none' if auth is None else 'ok' if auth == want_auth else 'bad'}",
              flush=True)
        if u.path != "/token":
            self.send_error(404)
            return
        if auth != want_auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="korhal token service"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        access = []
        for scope in q.get("scope", []):
            for one in scope.split(" "):
                kind, name, actions = one.split(":", 2) if one.count(":") >= 2 else (None,) * 3
                if kind == "repository":
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        tok = jwt({"iss": issuer, "sub": creds.split(":")[0], "aud": q.get("service", [""])[0],
                   "exp": now + 600, "nbf": now - 60, "iat": now,
                   "jti": b64url(os.urandom(12)), "access": access})
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
