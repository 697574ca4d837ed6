# fuzz/sources.sh — sourced by fuzz/run and t/fuzz-regressions.sh, so that
# the two build every target from one list.
# fuzz_targets: every target (fuzz/fuzz-T.c).
fuzz_targets="parse config apply-proto kmsg grants knockd-import knockcode control"
# fuzz_sources T: the files under src/ that target T links (besides fuzz/fuzz-T.c)
fuzz_sources() {
	common="common/knock.c common/log.c common/apply_proto.c common/knockcode.c daemon/onetime.c"
	case $1 in
	parse) echo $common daemon/parse.c daemon/doors.c daemon/grants.c daemon/config.c common/config_yaml.c ;;
	config) echo $common daemon/config.c common/config_yaml.c daemon/parse.c ;;
	apply-proto) echo common/apply_proto.c ;;
	kmsg) echo common/log.c daemon/state.c ;;	# fuzz-kmsg.c includes daemon/source_kmsg.c
	grants) echo $common daemon/grants.c ;;
	knockd-import) echo $common daemon/knockd_import.c daemon/knockd_import_yaml.c daemon/config.c common/config_yaml.c daemon/parse.c ;;
	knockcode) echo $common daemon/doors.c daemon/config.c common/config_yaml.c daemon/parse.c ;;
	control) echo daemon/control_proto.c ;;
	*) return 1 ;;
	esac
}
# fuzz_includes TOP: the -I flags of src/'s folders (src/README.md)
fuzz_includes() {
	for d in common daemon apply; do printf ' -I%s/src/%s' "$1" "$d"; done
}
