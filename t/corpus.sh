#!/bin/sh
# The parser against every real kernel log line in ../shared/corpus: an
# independent reading of each line (t/corpus_oracle.py) must give the same
# knocks, field by field, as `logknockd --replay --print-events`.
corpus=${LOGKNOCK_CORPUS:-${top_srcdir:-.}/../shared/corpus}
if [ ! -d "$corpus" ]; then
	echo "1..0 # SKIP corpus not found at $corpus (set LOGKNOCK_CORPUS)"
	exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..0 # SKIP python3 is needed for the corpus oracle"
	exit 0
fi
exec python3 "${top_srcdir:-.}/t/corpus_oracle.py" "$corpus"
