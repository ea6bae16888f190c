#!/bin/sh
# Serves a page that shows the greeting berth passed in through docker.yaml's envs.
mkdir -p /tmp/www
sed "s|{{GREETING}}|${GREETING:-hello}|" /www/index.html > /tmp/www/index.html
exec httpd -f -p 8080 -h /tmp/www
