# bench/section.sh - sourced by the scripts that write a section of
# BENCHMARKS.md of their own (bench/run-openssl36.sh,
# examples/fleet/bench.sh). A section is the lines from
# "<!-- NAME: begin ..." to "<!-- NAME: end -->"; bench/run.sh keeps
# every such section when it rewrites the file.

# replace_section NAME SECTION_FILE MD: put SECTION_FILE in place of MD's
# section NAME, or append it (after a blank line) when MD has none.
replace_section() {
    if grep -q "^<!-- $1: begin" "$3" 2>/dev/null; then
        awk -v sec="$2" -v name="$1" '
            index($0, "<!-- " name ": begin") == 1 { while ((getline line < sec) > 0) print line; skip = 1; next }
            $0 == "<!-- " name ": end -->" { skip = 0; next }
            !skip { print }' "$3" > "$3.tmp"
        mv "$3.tmp" "$3"
    else
        { echo; cat "$2"; } >> "$3"
    fi
}
