# benchtable.awk: go test -bench output as a table, one row per benchmark:
# name, ns/op, B/op, allocs/op, then the benchmark's own metrics.
/^pkg: / { pkg = $2; sub(/^headcount\/?/, "", pkg); if (pkg == "") pkg = "main" }
/^Benchmark/ {
  if (!header++) printf "%-58s %12s %10s %10s  %s\n", "benchmark", "ns/op", "B/op", "allocs/op", "metrics"
  name = pkg "." substr($1, 10)
  ns = "-"; bytes = "-"; allocs = "-"; extra = ""
  for (i = 3; i < NF; i += 2) {
    v = $i; u = $(i + 1)
    if (u == "ns/op") ns = v
    else if (u == "B/op") bytes = v
    else if (u == "allocs/op") allocs = v
    else extra = extra sprintf("%s %s  ", v, u)
  }
  printf "%-58s %12s %10s %10s  %s\n", name, ns, bytes, allocs, extra
}
/^(FAIL|panic)/ { print; failed = 1 }
END { exit failed }
