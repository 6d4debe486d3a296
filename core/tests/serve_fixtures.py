"""Throwaway static server for dump_fixtures output, to point a real kubectl at.

Usage: python3 serve_fixtures.py DIR PORT (LEGACY=1 to refuse aggregated discovery). Answers discovery in the negotiated format
(aggregated only for the exact Accept parameters kubectl sends), Tables when asked for,
/openapi/v2 with 404, and logs every request line with its Accept header.
"""
import http.server
import os
import sys

ROOT, PORT = sys.argv[1], int(sys.argv[2])
AGG = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0].strip("/")
        accept = self.headers.get("Accept", "")
        sys.stderr.write(f"GET {self.path} accept={accept}\n")
        ctype = "application/json"
        if path in ("api", "apis"):
            aggregated = "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept
            if aggregated and not os.environ.get("LEGACY"):
                name, ctype = f"{path}/aggregated.json", AGG
            else:
                name = f"{path}/legacy.json"
        elif "as=Table" in accept:
            name = f"{path}/table.json"
        else:
            name = f"{path}/index.json"
        file = os.path.join(ROOT, name)
        if not os.path.isfile(file):
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            body = b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"NotFound","code":404}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = open(file, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        # Echo the body back as the created object: enough for create/apply --dry-run.
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        sys.stderr.write(f"POST {self.path} content-type={ctype}\n")
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PATCH(self):
        # Log the patch and answer with the stored object unchanged.
        length = int(self.headers.get("Content-Length", "0"))
        patch = self.rfile.read(length).decode()
        ctype = self.headers.get("Content-Type", "")
        sys.stderr.write(f"PATCH {self.path} content-type={ctype} body={patch}\n")
        body = open(os.path.join(ROOT, self.path.split("?")[0].strip("/"), "index.json"), "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
