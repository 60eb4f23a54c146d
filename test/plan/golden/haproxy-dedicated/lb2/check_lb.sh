#!/bin/bash
# keepalived track script: exits 0 when the local haproxy accepts TCP on port 6443.
# Rendered by kubeha render.
exec timeout 1 bash -c '</dev/tcp/127.0.0.1/6443' 2>/dev/null
