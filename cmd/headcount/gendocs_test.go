package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenDocs_Files checks that gen-docs writes a man page naming every
// visible command and completions that complete the real command line.
func TestGenDocs_Files(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "gen-docs", dir); code != 0 || out != "" || errOut != "" {
		t.Fatalf("gen-docs: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	man := mustRead(t, filepath.Join(dir, "headcount.1"))
	if !strings.HasPrefix(man, ".nh\n.TH headcount 1\n") {
		t.Errorf("man page starts %q, want a section 1 page", man[:min(len(man), 40)])
	}
	for _, cmd := range newApp(nil, nil).Commands {
		if strings.Contains(man, "\n.SH "+cmd.Name+"\n") == cmd.Hidden {
			t.Errorf("man page: section for %q present %v, hidden %v", cmd.Name, !cmd.Hidden, cmd.Hidden)
		}
	}
	if fish := mustRead(t, filepath.Join(dir, "completion/headcount.fish")); !strings.Contains(fish, "complete -c headcount") {
		t.Errorf("fish completion has no `complete -c headcount`:\n%s", fish)
	}
	if zsh := mustRead(t, filepath.Join(dir, "completion/headcount.zsh")); !strings.HasPrefix(zsh, "#compdef headcount\n") ||
		!strings.Contains(zsh, "'license extend') opts=(") {
		t.Errorf("zsh completion lacks #compdef or the license extend case:\n%s", zsh)
	}
	bash := filepath.Join(dir, "completion/headcount.bash")
	for _, tc := range []struct {
		words string
		want  string
	}{
		{"headcount lic", "license"},
		{"headcount license ex", "extend"},
		{"headcount serve --spoe", "--spoe-addr"},
		{"headcount license extend --", strings.Join(flagWords(t, "license", "extend"), " ")},
		{"headcount gen", ""},
	} {
		script := "source " + bash + "\nCOMP_WORDS=(" + tc.words + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n_headcount\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("bash completion of %q: %q (%v), want %q", tc.words, out, err, tc.want)
		}
	}
}

// flagWords returns the --flags of the command at path, as completed.
func flagWords(t *testing.T, path ...string) []string {
	t.Helper()
	cmds := newApp(nil, nil).Commands
	var words []string
	for i, name := range path {
		for _, c := range cmds {
			if c.Name != name {
				continue
			}
			cmds = c.Subcommands
			if i == len(path)-1 {
				for _, f := range c.Flags {
					for _, n := range f.Names() {
						if len(n) > 1 {
							words = append(words, "--"+n)
						}
					}
				}
			}
		}
	}
	return append(words, "--help")
}

func TestGenDocs_BadInput(t *testing.T) {
	code, out, errOut := runCLI(t, "gen-docs")
	if want := "headcount: gen-docs takes one argument, the directory to write into\n"; code != 2 || out != "" || errOut != want {
		t.Errorf("status %d, stdout %q, stderr %q, want status 2 and %q", code, out, errOut, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestConfig_ShippedSample checks that the sample configuration the
// packages install as /etc/headcount/headcount.yaml is one serve accepts,
// with every commented key also a serve flag.
func TestConfig_ShippedSample(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "headcount.yaml")
	flags := serveCommand(nil).Flags
	if _, err := readConfig(path, "serve", flags); err != nil {
		t.Fatal(err)
	}
	uncommented := filepath.Join(t.TempDir(), "all.yaml")
	var all []string
	for _, line := range strings.Split(mustRead(t, path), "\n") {
		// A setting commented out is "#key: value" or "#  - item"; text is "# ...".
		if len(line) > 1 && line[0] == '#' && (line[1] >= 'a' && line[1] <= 'z' || strings.HasPrefix(line, "#  - ")) {
			line = line[1:]
		}
		all = append(all, line)
	}
	if err := os.WriteFile(uncommented, []byte(strings.Join(all, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readConfig(uncommented, "serve", flags); err != nil {
		t.Errorf("with the commented settings enabled: %v\n%s", err, strings.Join(all, "\n"))
	}
}
