#!/usr/bin/env bash
# make check: the mechanical part of shared/STYLE.md.
#
#  1. banned calls in common/ ipc/ svc-*/ cli/ bench/ (not tests/):
#     strcpy strcat sprintf vsprintf gets atoi atol atoll atof strtok strtok_r
#     (use snprintf/strlcpy-like helpers, strtol/strtoul with end checks,
#     strsep or a hand loop). Comments and string literals are ignored.
#  2. public functions in common/, ipc/ and engine/ headers carry the dwcp_ prefix.
#     Heuristic, not a C parser: it looks at top-level declarations (outside
#     any { } and preprocessor lines, after dropping comments and
#     __attribute__((...))), takes those whose first "(" follows at least two
#     words and is not a function-pointer declarator "(*", skips static,
#     typedef and _Static_assert ones, and calls the last word before "(" the
#     name. It does not check global variables, types or macros, does not
#     expand macros (a macro that declares a function is not seen), and an
#     __attribute__ nested deeper than ((x(y))) may confuse it.
#  3. every header in common/, ipc/ and engine/ (recursively) compiles on its own with
#     the project's warning flags.
#  4. room boundaries (shared/DESIGN.md section 2): a svc-X folder includes no
#     header of another svc-Y folder; common/ includes nothing from ipc/,
#     engine/, svc-*/, cli/ or bench/; ipc/ nothing from engine/, svc-*/, cli/
#     or bench/; engine/ nothing from svc-*/, cli/ or bench/.
#  5. deploy/sysctl.d/90-dwcp-net.conf is exactly what
#     `build/bin/dwcpctl tune --print-conf` prints (the settings table in
#     svc-supervisor/tune.c is the one source); skipped when that binary
#     has not been built.
#
# Prints each problem as file:line: message, then "check: ok" or
# "check: N problem(s)"; exit status 0 or 1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

problems=0
report() { # report LINES: print "file:line: ..." lines, one problem each
	[ -n "$1" ] || return 0
	printf '%s\n' "$1"
	problems=$((problems + $(printf '%s\n' "$1" | wc -l)))
}
report_block() { # report_block TEXT: one problem, explained on several lines
	printf '%s\n' "$1"
	problems=$((problems + 1))
}

shopt -s nullglob
src_dirs=()
for d in common ipc engine svc-* cli bench; do
	[ -d "$d" ] && src_dirs+=("$d")
done
src_files() { # src_files DIR...: C sources and headers below the dirs
	[ $# -gt 0 ] || return 0
	find "$@" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | LC_ALL=C sort
}

# Blank comments and the contents of string/char literals, keeping line
# numbers, quotes and everything else, so later greps see only code.
strip_c() {
	awk '
	BEGIN { incom = 0 }
	{
		out = ""; n = length($0); i = 1; instr = ""
		while (i <= n) {
			c = substr($0, i, 1); c2 = substr($0, i, 2)
			if (incom) {
				if (c2 == "*/") { incom = 0; out = out "  "; i += 2 } else { out = out " "; i++ }
			} else if (instr != "") {
				if (c == "\\") { out = out "  "; i += 2 }
				else if (c == instr) { out = out c; instr = ""; i++ }
				else { out = out " "; i++ }
			} else if (c2 == "/*") { incom = 1; out = out "  "; i += 2 }
			else if (c2 == "//") { break }
			else if (c == "\"" || c == "\047") { instr = c; out = out c; i++ }
			else { out = out c; i++ }
		}
		print out
	}' "$1"
}

# 1. banned calls
while IFS= read -r f; do
	report "$(strip_c "$f" | awk -v file="$f" '
	{
		s = $0
		while (match(s, /(^|[^A-Za-z0-9_.>])(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|atof|strtok|strtok_r)[ \t]*\(/)) {
			m = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
			sub(/^[^A-Za-z0-9_]/, "", m)    # the character before the name
			sub(/[ \t]*\($/, "", m)
			printf "%s:%d: banned call %s() (see tests/check-style.sh for what to use instead)\n", file, NR, m
		}
	}')"
done < <(src_files "${src_dirs[@]}")

# 2. dwcp_ prefix on public functions of common/ and ipc/ headers
hdr_dirs=()
for d in common ipc engine; do [ -d "$d" ] && hdr_dirs+=("$d"); done
headers=()
if [ ${#hdr_dirs[@]} -gt 0 ]; then
	mapfile -t headers < <(find "${hdr_dirs[@]}" -type f -name '*.h' | LC_ALL=C sort)
fi
for h in "${headers[@]}"; do
	hits=$(strip_c "$h" | awk -v file="$h" '
	function flush(   s, p, pre, after, ntok, tok, name) {
		s = stmt; stmt = ""
		# drop __attribute__((...)) with up to one nested level of parens
		while (match(s, /__attribute__[ \t]*\(\([^()]*(\([^()]*\)[^()]*)*\)\)/))
			s = substr(s, 1, RSTART - 1) " " substr(s, RSTART + RLENGTH)
		sub(/^[ \t]+/, "", s)
		if (s == "" || s ~ /^(typedef|static|_Static_assert|static_assert)[^A-Za-z0-9_]/) return
		p = index(s, "(")
		if (p == 0) return
		pre = substr(s, 1, p - 1); after = substr(s, p + 1)
		if (after ~ /^[ \t]*\*/) return          # function pointer variable
		gsub(/\*/, " ", pre)
		ntok = split(pre, tok, /[ \t]+/)
		while (ntok > 0 && tok[ntok] == "") ntok--
		if (ntok < 2) return                       # macro call, not a declaration
		name = tok[ntok]
		if (name !~ /^[A-Za-z_][A-Za-z0-9_]*$/) return
		if (name !~ /^dwcp_/)
			printf "%s:%d: public function %s() lacks the dwcp_ prefix (make it static, or rename it dwcp_<room>_...)\n", file, sline, name
	}
	BEGIN { depth = 0; externc = 0; cont = 0; stmt = "" }
	{
		line = $0
		if (cont || line ~ /^[ \t]*#/) { cont = (line ~ /\\$/); next }
		n = length(line)
		for (i = 1; i <= n; i++) {
			c = substr(line, i, 1)
			if (depth == 0) {
				if (c == "{") {
					if (stmt ~ /^[ \t]*extern[ \t]*"[ \t]*"[ \t]*$/) { externc++; stmt = ""; continue }
					flush(); depth = 1; continue
				}
				if (c == "}") { if (externc > 0) externc--; stmt = ""; continue }
				if (c == ";") { flush(); continue }
				if (stmt ~ /^[ \t]*$/ && c !~ /[ \t]/) sline = NR
				stmt = stmt c
			} else {
				if (c == "{") depth++
				else if (c == "}") { depth--; if (depth == 0) stmt = "" }
			}
		}
		if (depth == 0) stmt = stmt " "
	}')
	report "$hits"
done

# 3. each header compiles alone
pkgs=$(sed -n 's/^PKGS[[:space:]]*:=[[:space:]]*//p' Makefile 2>/dev/null)
# shellcheck disable=SC2086 # a list of package names
if ! pkg_cflags=$(pkg-config --cflags ${pkgs:-libdpdk} 2>&1); then
	report_block "Makefile:1: pkg-config --cflags ${pkgs:-libdpdk} failed (run deploy/deps.sh): $pkg_cflags"
	pkg_cflags=""
fi
pkg_cflags=$(sed -E 's/(^| )-march=[^ ]*//g' <<<"$pkg_cflags")
for h in "${headers[@]}"; do
	# shellcheck disable=SC2086 # pkg-config output is a list of flags
	if ! out=$(echo "#include \"$h\"" | ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -I. $pkg_cflags \
		-march=x86-64-v2 -mrtm -fsyntax-only -x c - 2>&1); then
		report_block "$h:1: does not compile on its own (#include \"$h\" in an empty file):"$'\n'"$(head -n 20 <<<"$out" | sed 's/^/    /')"
	fi
done

# 4. room boundaries
for d in "${src_dirs[@]}"; do
	case $d in
	svc-*) bad='^svc-' why='a service never includes another service'"'"'s headers; services meet only in ipc/' ;;
	common) bad='^(ipc|engine|svc-.*|cli|bench)$' why='common/ uses only libc and DPDK' ;;
	ipc) bad='^(engine|svc-.*|cli|bench)$' why='ipc/ uses only common/: it is the ABI and the runtime, not what engines compute' ;;
	engine) bad='^(svc-.*|cli|bench)$' why='engine/ (the chunk engine the engine services share) uses only common/ and ipc/' ;;
	*) continue ;;
	esac
	while IFS= read -r f; do
		report "$(awk -v file="$f" -v room="$d" -v bad="$bad" -v why="$why" '
		/^[ \t]*#[ \t]*include[ \t]*[<"]/ {
			p = $0
			sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", p)
			sub(/[>"].*$/, "", p)
			while (p ~ /^\.\.\//) p = substr(p, 4)
			if (index(p, "/") == 0) next
			top = substr(p, 1, index(p, "/") - 1)
			if (top != room && top ~ bad)
				printf "%s:%d: includes %s: %s (DESIGN.md section 2)\n", file, NR, p, why
		}' "$f")"
	done < <(src_files "$d")
done

# 5. the sysctl.d file matches the table it is generated from
conf=deploy/sysctl.d/90-dwcp-net.conf
if [ -x build/bin/dwcpctl ]; then
	if ! out=$(build/bin/dwcpctl tune --print-conf 2>&1 | diff -u "$conf" - 2>&1); then
		report_block "$conf:1: differs from \`build/bin/dwcpctl tune --print-conf\` (the table in svc-supervisor/tune.c); after \`make all\`, regenerate it with: build/bin/dwcpctl tune --print-conf > $conf"$'\n'"$(head -n 30 <<<"$out" | sed 's/^/    /')"
	fi
fi

if [ "$problems" -eq 0 ]; then
	echo "check: ok"
	exit 0
fi
echo "check: $problems problem(s)"
exit 1
