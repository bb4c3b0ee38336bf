#!/usr/bin/python3
"""A minimal Docker token issuer for the registry tests (the registry itself,
Debian's docker-registry, is real): GET /token?service=S&scope=... with Basic
credentials answers {"token": JWT} signed with KEY, the certificate CERT in
its x5c header (the registry trusts CERT as its rootcertbundle).

usage: registry_token_issuer.py PORTFILE KEY CERT ISSUER SERVICE USER:PASSWORD
Binds 127.0.0.1 on a free port and writes the port to PORTFILE. Anonymous
requests get a token with no access; wrong credentials get 401.
"""
import base64, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

portfile, keyfile, certfile, issuer, service, userpass = sys.argv[1:7]
key = open(keyfile, 'rb').read()
cert = x509.load_pem_x509_certificate(open(certfile, 'rb').read())
x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
log = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urlparse(self.path)
        if u.path != '/token':
            self.send_error(404)
            return
        q = parse_qs(u.query)
        authz = self.headers.get('Authorization', '')
        user = None
        if authz.startswith('Basic '):
            given = base64.b64decode(authz[6:]).decode()
            if given != userpass:
                self.send_response(401)
                self.send_header('Content-Type', 'application/json')
                self.end_headers()
                self.wfile.write(b'{"details":"wrong credentials"}')
                return
            user = given.split(':', 1)[0]
        access = []
        if user:
            for scope in q.get('scope', []):
                parts = scope.split(':')
                if len(parts) >= 3:
                    access.append({'type': parts[0], 'name': ':'.join(parts[1:-1]),
                                   'actions': parts[-1].split(',')})
        now = int(time.time())
        claims = {'iss': issuer, 'sub': user or '', 'aud': q.get('service', [service])[0],
                  'exp': now + 600, 'nbf': now - 10, 'iat': now, 'jti': uuid.uuid4().hex, 'access': access}
        token = jwt.encode(claims, key, algorithm='RS256', headers={'x5c': x5c})
        body = json.dumps({'token': token, 'access_token': token, 'expires_in': 600}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
with open(portfile + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + '.tmp', portfile)
srv.serve_forever()
