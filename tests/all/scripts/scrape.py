"""Scrapes a Prometheus endpoint and parses it with Prometheus' own Python parser
(prometheus_client), printing every sample as JSON: [name, labels, value]. Exits non-zero
(with the parser's error) if the exposition does not parse."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

url, token = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
request = urllib.request.Request(url)
if token:
    request.add_header("Authorization", f"Bearer {token}")
with urllib.request.urlopen(request, timeout=10) as response:
    content_type = response.headers.get("Content-Type", "")
    text = response.read().decode()
if not content_type.startswith("text/plain"):
    sys.exit(f"unexpected content type {content_type!r}")
samples = []
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        samples.append([sample.name, sample.labels, sample.value])
print(json.dumps(samples))
