// Command notices writes the third-party licence notices of a Go program:
// the licence files of every module whose packages the program links (from
// `go list -deps`, so the notices follow the module graph as it is, never a
// hand-written list) and of the Go standard library. A module without a
// licence file in its root stops it with an error, so that no release ships
// with a notice missing.
//
//	go run ./scripts/notices ./cmd/headcount > THIRD_PARTY_NOTICES
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

// module is one module linked into the program.
type module struct {
	Path, Version, Dir string
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: notices PACKAGE (the main package, e.g. ./cmd/headcount)")
		os.Exit(2)
	}
	mods, err := linkedModules(os.Args[1])
	if err == nil {
		var goroot string
		goroot, err = goEnv("GOROOT")
		if err == nil {
			mods = append(mods, module{Path: "Go standard library", Version: runtime.Version(), Dir: goroot})
			var text string
			text, err = notices(mods)
			if err == nil {
				_, err = os.Stdout.WriteString(text)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "notices: %v\n", err)
		os.Exit(1)
	}
}

// linkedModules lists the modules other than the main one whose packages
// pkg depends on when built for Linux without cgo, sorted by path.
func linkedModules(pkg string) ([]module, error) {
	cmd := exec.Command("go", "list", "-deps", "-f",
		"{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	seen := map[string]bool{}
	var mods []module
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		mods = append(mods, module{Path: f[0], Version: f[1], Dir: f[2]})
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods, nil
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// licenceFile matches the names of licence and notice files in a module's
// root: LICENSE, LICENCE, COPYING, NOTICE, with or without a suffix
// (LICENSE.md, LICENSE-MIT, COPYING.txt).
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice)([.-].*)?$`)

// notices returns the notices text: a table of the modules and the licence
// each declares, then every licence and notice file in full. It fails on
// a module without a licence file.
func notices(mods []module) (string, error) {
	type file struct{ name, text string }
	files := make([][]file, len(mods))
	for i, m := range mods {
		entries, err := os.ReadDir(m.Dir)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w (run `go mod download` first)", m.Path, m.Version, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && licenceFile.MatchString(e.Name()) {
				data, err := os.ReadFile(filepath.Join(m.Dir, e.Name()))
				if err != nil {
					return "", err
				}
				files[i] = append(files[i], file{e.Name(), strings.TrimRight(string(data), "\n ") + "\n"})
			}
		}
		if len(files[i]) == 0 {
			return "", fmt.Errorf("%s %s: no licence file (LICENSE, COPYING, NOTICE) in %s; find the module's licence before shipping it", m.Path, m.Version, m.Dir)
		}
	}
	var b strings.Builder
	b.WriteString("Third-party software in headcount\n\n")
	b.WriteString("headcount is licensed under the Apache License 2.0 (LICENSE). Its binary includes the\n")
	b.WriteString("following software, listed from its module graph (go list -deps) by scripts/notices;\n")
	b.WriteString("the licence and notice files of each follow the list in full.\n\n")
	for i, m := range mods {
		fmt.Fprintf(&b, "  %-45s %-38s %s\n", m.Path, m.Version, kind(files[i][0].text))
	}
	for i, m := range mods {
		for _, f := range files[i] {
			fmt.Fprintf(&b, "\n%s\n%s %s: %s\n%s\n\n%s", strings.Repeat("=", 79), m.Path, m.Version, f.name, strings.Repeat("=", 79), f.text)
		}
	}
	return b.String(), nil
}

// kind names the licence a text is, for the table; the full text is what
// counts, so an unrecognised one is "see below".
func kind(text string) string {
	has := func(s string) bool { return strings.Contains(text, s) }
	switch {
	case has("Apache License") && has("Version 2.0"):
		return "Apache-2.0"
	case has("Permission is hereby granted, free of charge"):
		return "MIT"
	case has("Mozilla Public License") && has("2.0"):
		return "MPL-2.0"
	case has("Redistribution and use in source and binary forms") && has("Neither the name"):
		return "BSD-3-Clause"
	case has("Redistribution and use in source and binary forms"):
		return "BSD-2-Clause"
	case has("Permission to use, copy, modify, and/or distribute"):
		return "ISC"
	}
	return "see below"
}
