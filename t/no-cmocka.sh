#!/bin/sh
echo "1..0 # SKIP cmocka not found (Debian package libcmocka-dev): C unit tests not built"
