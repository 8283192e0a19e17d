package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// genDocsCommand is the hidden command `make dist` runs to write the man
// page and the shell completions from the command line's own definition,
// so that they never disagree with the binary they ship with.
func genDocsCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:         "gen-docs",
		Usage:        "write the man page headcount.1 and the bash, zsh and fish completions into DIR",
		ArgsUsage:    "DIR",
		Hidden:       true,
		OnUsageError: onUsage,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("gen-docs takes one argument, the directory to write into")
			}
			return genDocs(c.App, c.Args().First())
		},
	}
}

// genDocs writes DIR/headcount.1 and DIR/completion/headcount.{bash,zsh,fish}.
func genDocs(app *cli.App, dir string) error {
	man, err := app.ToManWithSection(1)
	if err != nil {
		return fmt.Errorf("gen-docs: man page: %w", err)
	}
	fish, err := app.ToFishCompletion()
	if err != nil {
		return fmt.Errorf("gen-docs: fish completion: %w", err)
	}
	tree := completionTree(app)
	files := map[string]string{
		"headcount.1":               man,
		"completion/headcount.bash": bashCompletion(tree),
		"completion/headcount.zsh":  zshCompletion(tree),
		"completion/headcount.fish": fish,
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("gen-docs: %w", err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return fmt.Errorf("gen-docs: %w", err)
		}
	}
	return nil
}

// completionWord is a word that may follow a command: a subcommand or a
// flag, with the first line of its usage.
type completionWord struct{ word, usage string }

// completionNode is what may follow one command path ("" for headcount
// itself, "license extend" for a subcommand).
type completionNode struct {
	path  string
	words []completionWord
	subs  []string // the subcommand names among words
}

// completionTree lists, for every visible command path, its subcommands
// and flags, in a stable order.
func completionTree(app *cli.App) []completionNode {
	var nodes []completionNode
	var walk func(path string, cmds []*cli.Command, flags []cli.Flag)
	walk = func(path string, cmds []*cli.Command, flags []cli.Flag) {
		n := completionNode{path: path}
		seen := map[string]bool{}
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			n.words = append(n.words, completionWord{c.Name, c.Usage})
			n.subs = append(n.subs, c.Name)
		}
		for _, f := range flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			usage := ""
			if d, ok := f.(cli.DocGenerationFlag); ok {
				usage = d.GetUsage()
			}
			for _, name := range f.Names() {
				dash := "--"
				if len(name) == 1 {
					dash = "-"
				}
				if !seen[dash+name] {
					seen[dash+name] = true
					n.words = append(n.words, completionWord{dash + name, usage})
				}
			}
		}
		nodes = append(nodes, n)
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			walk(strings.TrimSpace(path+" "+c.Name), c.Subcommands, append(c.Flags, cli.HelpFlag))
		}
	}
	walk("", app.Commands, append(app.Flags, cli.HelpFlag, cli.VersionFlag))
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].path < nodes[j].path })
	return nodes
}

// firstLine returns s's first line without the backquotes that mark a
// flag's placeholder.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.ReplaceAll(s, "`", "")
}

// bashCompletion returns a bash completion script: subcommands and flags
// after each command path, file names everywhere else.
func bashCompletion(tree []completionNode) string {
	var b strings.Builder
	b.WriteString("# bash completion for headcount (written by `headcount gen-docs` from the command line).\n")
	b.WriteString("_headcount() {\n")
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]} path=\"\" i words\n")
	b.WriteString("  for ((i = 1; i < COMP_CWORD; i++)); do\n")
	b.WriteString("    case \"$path:${COMP_WORDS[i]}\" in\n")
	for _, n := range tree {
		for _, s := range n.subs {
			fmt.Fprintf(&b, "      %q) path=%q ;;\n", n.path+":"+s, strings.TrimSpace(n.path+" "+s))
		}
	}
	b.WriteString("    esac\n  done\n  case \"$path\" in\n")
	for _, n := range tree {
		var ws []string
		for _, w := range n.words {
			ws = append(ws, w.word)
		}
		fmt.Fprintf(&b, "    %q) words=%q ;;\n", n.path, strings.Join(ws, " "))
	}
	b.WriteString("  esac\n")
	b.WriteString("  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\n")
	b.WriteString("complete -o default -F _headcount headcount\n")
	return b.String()
}

// zshCompletion returns a zsh completion function (#compdef headcount):
// subcommands and flags with their descriptions, and file names.
func zshCompletion(tree []completionNode) string {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	var b strings.Builder
	b.WriteString("#compdef headcount\n")
	b.WriteString("# zsh completion for headcount (written by `headcount gen-docs` from the command line).\n")
	b.WriteString("_headcount() {\n")
	b.WriteString("  local cmdpath=\"\" i\n  local -a opts\n")
	b.WriteString("  for ((i = 2; i < CURRENT; i++)); do\n")
	b.WriteString("    case \"$cmdpath:${words[i]}\" in\n")
	for _, n := range tree {
		for _, s := range n.subs {
			fmt.Fprintf(&b, "      %s) cmdpath=%s ;;\n", quote(n.path+":"+s), quote(strings.TrimSpace(n.path+" "+s)))
		}
	}
	b.WriteString("    esac\n  done\n  case \"$cmdpath\" in\n")
	for _, n := range tree {
		fmt.Fprintf(&b, "    %s) opts=(", quote(n.path))
		for i, w := range n.words {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(quote(strings.ReplaceAll(w.word, ":", `\:`) + ":" + firstLine(w.usage)))
		}
		b.WriteString(") ;;\n")
	}
	b.WriteString("  esac\n")
	b.WriteString("  _describe -t commands 'headcount' opts\n  _files\n}\n")
	b.WriteString("_headcount \"$@\"\n")
	return b.String()
}
