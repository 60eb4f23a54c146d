#!/bin/bash
# keepalived track script: exits 0 when the local nginx accepts TCP on port 16443.
# Rendered by kubeha render.
exec timeout 1 bash -c '</dev/tcp/127.0.0.1/16443' 2>/dev/null
