package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustWrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNotices_ListsEveryLicenceFile(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "a/LICENSE"), "Permission is hereby granted, free of charge, to any person\n")
	mustWrite(t, filepath.Join(dir, "b/COPYING.txt"), "Redistribution and use in source and binary forms ... Neither the name\n")
	mustWrite(t, filepath.Join(dir, "b/NOTICE"), "b includes c\n")
	mustWrite(t, filepath.Join(dir, "b/main.go"), "package b\n")
	text, err := notices([]module{{"example.com/a", "v1.0.0", filepath.Join(dir, "a")}, {"example.com/b", "v2.0.0", filepath.Join(dir, "b")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  example.com/a                                 v1.0.0                                 MIT\n",
		"  example.com/b                                 v2.0.0                                 BSD-3-Clause\n",
		"example.com/a v1.0.0: LICENSE\n" + strings.Repeat("=", 79) + "\n\nPermission is hereby granted, free of charge, to any person\n",
		"example.com/b v2.0.0: COPYING.txt\n",
		"example.com/b v2.0.0: NOTICE\n" + strings.Repeat("=", 79) + "\n\nb includes c\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("notices lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "package b") {
		t.Errorf("notices include a file that is no licence:\n%s", text)
	}
}

func TestNotices_ModuleWithoutLicence(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "a/README"), "no licence here\n")
	_, err := notices([]module{{"example.com/a", "v1.0.0", filepath.Join(dir, "a")}})
	want := "example.com/a v1.0.0: no licence file (LICENSE, COPYING, NOTICE) in " + filepath.Join(dir, "a") + "; find the module's licence before shipping it"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
