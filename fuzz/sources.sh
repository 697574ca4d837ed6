# fuzz/sources.sh — sourced by fuzz/run and t/fuzz-regressions.sh, so that
# the two build every target from one list.
# fuzz_targets: every target (fuzz/fuzz-T.c).
fuzz_targets="parse config apply-proto kmsg grants knockd-import knockcode control"
# fuzz_sources T: the src/*.c files target T links (besides fuzz/fuzz-T.c)
fuzz_sources() {
	common="knock.c log.c apply_proto.c knockcode.c onetime.c"
	case $1 in
	parse) echo $common parse.c doors.c grants.c config.c ;;
	config) echo $common config.c parse.c ;;
	apply-proto) echo apply_proto.c ;;
	kmsg) echo log.c state.c ;;	# fuzz-kmsg.c includes source_kmsg.c
	grants) echo $common grants.c ;;
	knockd-import) echo $common knockd_import.c config.c parse.c ;;
	knockcode) echo $common doors.c config.c parse.c ;;
	control) echo control_proto.c ;;
	*) return 1 ;;
	esac
}
