package report

import "flag"

// update rewrites the golden files under testdata/ with the current output:
// go test ./report/ -run Golden -update, then review the diff.
var update = flag.Bool("update", false, "rewrite golden files")
