#!/usr/bin/env bash
# Seeds the fuzz corpora from the wire test vectors in proto/vectors/.
#   frame_decode: mode byte 0 + the datagram, and mode byte 1 + the datagram without its
#                 signature (the target re-signs it, so the body decoders are reached);
#   body_decode:  the kind byte + the body of every frame that has a v1 layout;
#   ioc_text:     the text form of every IoC in the vectors, plus a few bare forms.
# Needs only bash and perl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vectors="$here/../proto/vectors"
corpus="$here/corpus"
mkdir -p "$corpus/frame_decode" "$corpus/body_decode" "$corpus/ioc_text"

unhex() { perl -e 'binmode STDOUT; print pack("H*", $ARGV[0])' "$1"; }

n=0
for f in "$vectors"/*.hex; do
    name="$(basename "$f" .hex)"
    h="$(tr -d '\n' < "$f")"
    unhex "00$h" > "$corpus/frame_decode/$name.raw"
    len=${#h}
    if (( len >= 256 )); then
        unhex "01${h:0:len-128}" > "$corpus/frame_decode/$name.unsigned"
        unhex "${h:6:2}${h:128:len-256}" > "$corpus/body_decode/$name"
    fi
    n=$((n + 1))
done

i=0
grep -ho '"text": "[^"]*"' "$vectors"/*.json | sed 's/^"text": "//; s/"$//' | sort -u |
while IFS= read -r text; do
    printf '%s' "$text" > "$corpus/ioc_text/vector_$i"
    i=$((i + 1))
done
for t in 1.2.3.4 ::ffff:1.2.3.4 Example.COM. D41D8CD98F00B204E9800998ECF8427E \
         hash:da39a3ee5e6b4b0d3255bfef95601890afd80709 ip:2001:db8::1 url:http://x/y; do
    printf '%s' "$t" > "$corpus/ioc_text/bare_$(printf '%s' "$t" | md5sum | cut -c1-8)"
done
# slips_json: first byte picks the parser (0 pygo, 1 gopy, 2 report_to_peers,
# 3 p2p_data_request, 4 peer message base64, 9 peer message JSON); shapes from the Slips spec.
mkdir -p "$corpus/slips_json"
seed() { { printf "\\x$1"; printf '%s' "$2"; } > "$corpus/slips_json/$3"; }
report='{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": 0.9, "confidence": 0.6}}'
seed 00 "{\"message\": \"$(printf '%s' "$report" | base64 -w0)\", \"recipient\": \"*\", \"version\": \"1.1.21\"}" pygo_report
seed 00 '{"text": "stop_process", "version": "1.1.21"}' pygo_stop
seed 01 "{\"message_type\": \"go_data\", \"message_contents\": {\"reporter\": \"abc\", \"report_time\": 1700000000, \"message\": \"$(printf '%s' "$report" | base64 -w0)\"}, \"version\": \"1.1.21\"}" gopy_data
seed 01 '{"message_type": "peer_update", "message_contents": {"peerid": "abc", "ip": "10.0.0.5", "reliability": 0.5}, "version": "1.1.21"}' gopy_peer
seed 02 '{"evidence_type": "HORIZONTAL_PORT_SCAN", "description": "d", "attacker": {"direction": "SRC", "ioc_type": "IP", "value": "192.168.1.50"}, "threat_level": "MEDIUM", "profile": {"ip": "192.168.1.50"}, "timewindow": {"number": 1}, "uid": ["C1"], "timestamp": "2024/04/05 19:34:38.123000+0200", "id": "2b1d2e3f", "confidence": 0.8, "version": "1.1.21"}' evidence
seed 03 '{"to_lookup": "1.2.3.4", "profileid": "profile_192.168.1.5", "twid": "timewindow2", "proto": "TCP", "ip_state": "dstip", "stime": 1712345678.123, "uid": "CXyz12", "daddr": "1.2.3.4", "cache_age": 1000, "ip": "1.2.3.4", "version": "1.1.21"}' data_request
seed 04 "$(printf '%s' "$report" | base64 -w0)" peer_base64
seed 09 "$report" peer_json
echo "seeded from $n vectors into $corpus"
