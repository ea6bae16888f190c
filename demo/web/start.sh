#!/bin/sh
# Serves a page that shows the greeting berth passed in through docker.yaml's envs, and the schema
# that the migrate job wrote into the database (reached by its module name, db, on demo_default).
mkdir -p /tmp/www
schema=$(printf 'GET /schema HTTP/1.0\r\n\r\n' | nc db 5432 2>/dev/null | sed '1,/^\r*$/d')
sed -e "s|{{GREETING}}|${GREETING:-hello}|" -e "s|{{SCHEMA}}|${schema:-none}|" /www/index.html > /tmp/www/index.html
exec httpd -f -p 8080 -h /tmp/www
