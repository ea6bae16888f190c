#!/bin/sh
# A stand-in database: it takes a few seconds to come up (its healthcheck says when), then serves
# /data, the demo's named volume, over HTTP on 5432.
rm -f /ready
mkdir -p /data
sleep "${WARMUP_SECONDS:-3}"
touch /ready
exec httpd -f -p 5432 -h /data
