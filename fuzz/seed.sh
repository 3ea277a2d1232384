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
echo "seeded from $n vectors into $corpus"
