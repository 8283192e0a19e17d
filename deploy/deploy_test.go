// Package deploy_test checks what deploy/ ships: the OCI image archive
// (scripts/dist-oci), the Helm chart (scripts/dist-helm), the Prometheus alert
// rules and the Grafana dashboard, with the tools a site uses on them: skopeo,
// helm and promtool, and the real agent's /metrics.
//
// skopeo and promtool come from Debian (apt-get install skopeo prometheus);
// helm is taken from $HELM, the PATH or .tools/helm, and built there with
// `go install helm.sh/helm/v3/cmd/helm@v3.22.0` when none is found.
package deploy_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	testVersion  = "1.2.3-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testEpoch    = "1767225600" // 2026-01-01T00:00:00Z
	helmModule   = "helm.sh/helm/v3/cmd/helm@v3.22.0"
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs name with args in dir (the repository root when empty) and returns
// its stdout; it fails the test with stderr when the command fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not on PATH: %s", name, install)
	}
	return p
}

var (
	binsOnce sync.Once
	binsDir  string
	binsErr  error
)

// binaries builds the agent for linux/amd64 and linux/arm64 once, static and
// with the version testVersion, as make dist does.
func binaries(t *testing.T) (amd64, arm64 string) {
	t.Helper()
	binsOnce.Do(func() {
		binsDir, binsErr = os.MkdirTemp("", "headcount-deploy-test-")
		if binsErr != nil {
			return
		}
		for _, arch := range []string{"amd64", "arm64"} {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+testVersion,
				"-o", filepath.Join(binsDir, arch), "./cmd/headcount")
			cmd.Dir = root(t)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
			if out, err := cmd.CombinedOutput(); err != nil {
				binsErr = fmt.Errorf("go build %s: %v\n%s", arch, err, out)
				return
			}
		}
	})
	if binsErr != nil {
		t.Fatal(binsErr)
	}
	return filepath.Join(binsDir, "amd64"), filepath.Join(binsDir, "arm64")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binsDir != "" {
		os.RemoveAll(binsDir)
	}
	os.Exit(code)
}

var reproducibleEnv = []string{"SOURCE_DATE_EPOCH=" + testEpoch, "HEADCOUNT_REVISION=" + testRevision, "HEADCOUNT_SOURCE=https://example.org/headcount"}

// distOCI runs scripts/dist-oci into a new directory and returns the
// archive's path and the digest it printed.
func distOCI(t *testing.T, bins ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	out := run(t, reproducibleEnv, "scripts/dist-oci", append([]string{testVersion, dir}, bins...)...)
	digest := strings.TrimSpace(out)
	if !digestRE.MatchString(digest) {
		t.Fatalf("scripts/dist-oci printed %q, want the image digest sha256:<64 hex>", out)
	}
	return filepath.Join(dir, "headcount_"+testVersion+"_oci.tar"), digest
}

// TestOCIImage: the image archive is reproducible, skopeo reads it as a
// non-root image with the agent as entrypoint and the labels, its blobs match
// their digests, and the binary in its layer is the one given and runs.
func TestOCIImage(t *testing.T) {
	t.Parallel()
	skopeo := tool(t, "skopeo", "apt-get install skopeo")
	amd64, arm64 := binaries(t)

	a, digest := distOCI(t, amd64, arm64)
	b, digest2 := distOCI(t, amd64, arm64)
	bytesA, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	bytesB, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if digest != digest2 || !bytes.Equal(bytesA, bytesB) {
		t.Fatalf("two builds from the same binaries differ: digests %s and %s, archives equal: %v", digest, digest2, bytes.Equal(bytesA, bytesB))
	}
	t.Logf("image archive %d bytes, index digest %s", len(bytesA), digest)

	// Other inputs, another digest: the digest is the content's.
	if _, one := distOCI(t, amd64); one == digest {
		t.Fatalf("an amd64-only image has the digest of the amd64+arm64 one (%s)", digest)
	}

	ref := "oci-archive:" + a
	var inspect struct {
		Digest       string
		Architecture string
		Labels       map[string]string
	}
	if err := json.Unmarshal([]byte(run(t, nil, skopeo, "inspect", ref)), &inspect); err != nil {
		t.Fatal(err)
	}
	if inspect.Digest != digest {
		t.Errorf("skopeo inspect: digest %s, scripts/dist-oci printed %s", inspect.Digest, digest)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.source":   "https://example.org/headcount",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
	}
	for k, v := range wantLabels {
		if inspect.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, inspect.Labels[k], v)
		}
	}

	for _, arch := range []string{"amd64", "arm64"} {
		var cfg struct {
			Architecture string
			Config       struct {
				User       string
				Entrypoint []string
				Cmd        []string
				Volumes    map[string]struct{}
			}
		}
		if err := json.Unmarshal([]byte(run(t, nil, skopeo, "inspect", "--override-arch", arch, "--override-os", "linux", "--config", ref)), &cfg); err != nil {
			t.Fatal(err)
		}
		c := cfg.Config
		if cfg.Architecture != arch {
			t.Errorf("%s: the image for %s says architecture %q", arch, arch, cfg.Architecture)
		}
		user, group, _ := strings.Cut(c.User, ":")
		if user == "" || user == "0" || user == "root" || group == "0" || group == "root" {
			t.Errorf("%s: image user %q: the image must not run as root", arch, c.User)
		}
		if !slices.Equal(c.Entrypoint, []string{"/usr/bin/headcount"}) {
			t.Errorf("%s: entrypoint %q, want [/usr/bin/headcount]", arch, c.Entrypoint)
		}
		wantCmd := []string{"serve", "--db", "/var/lib/headcount/headcount.db", "--spoe-addr", ":12345", "--admin-addr", ":9345"}
		if !slices.Equal(c.Cmd, wantCmd) {
			t.Errorf("%s: default arguments %q, want %q", arch, c.Cmd, wantCmd)
		}
		if _, ok := c.Volumes["/var/lib/headcount"]; !ok || len(c.Volumes) != 1 {
			t.Errorf("%s: volumes %v, want /var/lib/headcount", arch, c.Volumes)
		}
	}

	// skopeo copies every platform and checks each blob against its digest;
	// the index keeps its digest, the one the Helm chart pins.
	copied := t.TempDir()
	run(t, nil, skopeo, "copy", "--all", "-q", ref, "oci:"+copied+":"+testVersion)
	var idx struct{ Manifests []struct{ Digest string } }
	data, err := os.ReadFile(filepath.Join(copied, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != digest {
		t.Errorf("after skopeo copy --all the index is %s, want the one digest %s", data, digest)
	}

	// The layer holds the binary given, and the data directory owned by the
	// image's user; the binary runs.
	files := layerFiles(t, bytesA, "amd64")
	bin, ok := files["usr/bin/headcount"]
	if !ok {
		t.Fatalf("the amd64 layer has no usr/bin/headcount; it has %v", keys(files))
	}
	want, err := os.ReadFile(amd64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin.data, want) || bin.hdr.Mode&0o111 == 0 {
		t.Errorf("usr/bin/headcount in the layer: %d bytes mode %o, want the %d-byte binary given, executable", len(bin.data), bin.hdr.Mode, len(want))
	}
	if d, ok := files["var/lib/headcount/"]; !ok || d.hdr.Uid != 65532 || d.hdr.Mode&0o777 != 0o700 {
		t.Errorf("var/lib/headcount/ in the layer: %+v, want a directory of uid 65532, mode 0700", files["var/lib/headcount/"].hdr)
	}
	extracted := filepath.Join(t.TempDir(), "headcount")
	if err := os.WriteFile(extracted, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	if runtime.GOARCH == "amd64" {
		out := run(t, nil, extracted, "version")
		if !strings.HasPrefix(out, "headcount ") {
			t.Errorf("the binary from the image: `headcount version` printed %q", out)
		}
		t.Logf("binary from the image's layer: %s", strings.TrimSpace(out))
	}
}

type tarFile struct {
	hdr  *tar.Header
	data []byte
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

// layerFiles reads the OCI archive by hand: index.json → image index → the
// manifest of arch → its one layer, and returns the layer's files.
func layerFiles(t *testing.T, archive []byte, arch string) map[string]tarFile {
	t.Helper()
	outer := untar(t, archive)
	blob := func(digest string) []byte {
		f, ok := outer["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok {
			t.Fatalf("the archive has no blob %s", digest)
		}
		return f.data
	}
	type desc struct {
		Digest   string
		Platform struct{ Architecture string }
	}
	var top, idx struct{ Manifests []desc }
	if err := json.Unmarshal(outer["index.json"].data, &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("index.json: %s (%v)", outer["index.json"].data, err)
	}
	if err := json.Unmarshal(blob(top.Manifests[0].Digest), &idx); err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if m.Platform.Architecture != arch {
			continue
		}
		var man struct{ Layers []desc }
		if err := json.Unmarshal(blob(m.Digest), &man); err != nil || len(man.Layers) != 1 {
			t.Fatalf("manifest %s: %d layers (%v), want 1", m.Digest, len(man.Layers), err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(blob(man.Layers[0].Digest)))
		if err != nil {
			t.Fatal(err)
		}
		layer, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return untar(t, layer)
	}
	t.Fatalf("the image index has no manifest for %s", arch)
	return nil
}

func untar(t *testing.T, data []byte) map[string]tarFile {
	t.Helper()
	files := map[string]tarFile{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = tarFile{hdr: h, data: body}
	}
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns $HELM, helm on PATH or .tools/helm, building the latter once
// (it takes minutes; .tools/ is kept between runs).
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("HELM"); p != "" {
			helmPath = p
			return
		}
		if p, err := exec.LookPath("helm"); err == nil {
			helmPath = p
			return
		}
		helmPath = filepath.Join(root(t), ".tools", "helm")
		if _, err := os.Stat(helmPath); err == nil {
			return
		}
		cmd := exec.Command("go", "install", helmModule)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(helmPath), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			helmErr = fmt.Errorf("helm is needed by this test: none in $HELM, on PATH or in .tools/, and go install %s failed: %v\n%s", helmModule, err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

const testDigest = "sha256:d79f56966fbbe3c27e08cb7c5b19491b891e955f2c1244b485c71a103da68962"

// manifests parses helm template's output.
func manifests(t *testing.T, rendered string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(rendered))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("helm template output: %v\n%s", err, rendered)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// get walks m along path (map keys, or "[i]"-free: lists are handled by callers).
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func list(v any) []any { l, _ := v.([]any); return l }

// podProblems lists what in the rendered manifests could run as root or
// escalate: every pod template must set runAsNonRoot and a non-zero user,
// RuntimeDefault seccomp, and every container a read-only root file system,
// no privilege escalation and all capabilities dropped. Images must be pinned
// by digest and never say latest.
func podProblems(docs []map[string]any) []string {
	var problems []string
	for _, d := range docs {
		spec := get(d, "spec", "template", "spec")
		if spec == nil {
			continue
		}
		name := fmt.Sprintf("%v %v", d["kind"], get(d, "metadata", "name"))
		pod := get(spec, "securityContext")
		if get(pod, "runAsNonRoot") != true {
			problems = append(problems, name+": pod securityContext.runAsNonRoot is not true")
		}
		if get(get(pod, "seccompProfile"), "type") != "RuntimeDefault" {
			problems = append(problems, name+": pod seccompProfile is not RuntimeDefault")
		}
		containers := append(list(get(spec, "containers")), list(get(spec, "initContainers"))...)
		if len(containers) == 0 {
			problems = append(problems, name+": no containers")
		}
		for _, c := range containers {
			cname := fmt.Sprintf("%s container %v", name, get(c, "name"))
			sc := get(c, "securityContext")
			uid := get(sc, "runAsUser")
			if uid == nil {
				uid = get(pod, "runAsUser")
			}
			if n, ok := uid.(int); !ok || n == 0 {
				problems = append(problems, fmt.Sprintf("%s: runs as user %v, want a non-zero uid", cname, uid))
			}
			if get(sc, "runAsNonRoot") == false {
				problems = append(problems, cname+": runAsNonRoot false")
			}
			if get(sc, "readOnlyRootFilesystem") != true {
				problems = append(problems, cname+": readOnlyRootFilesystem is not true")
			}
			if get(sc, "allowPrivilegeEscalation") != false {
				problems = append(problems, cname+": allowPrivilegeEscalation is not false")
			}
			if get(sc, "privileged") == true {
				problems = append(problems, cname+": privileged")
			}
			if !slices.Contains(list(get(sc, "capabilities", "drop")), any("ALL")) || get(sc, "capabilities", "add") != nil {
				problems = append(problems, cname+": capabilities are not drop [ALL] with nothing added")
			}
			if s := get(sc, "seccompProfile", "type"); s != nil && s != "RuntimeDefault" {
				problems = append(problems, fmt.Sprintf("%s: seccompProfile %v", cname, s))
			}
			image, _ := get(c, "image").(string)
			if _, digest, ok := strings.Cut(image, "@"); !ok || !digestRE.MatchString(digest) {
				problems = append(problems, fmt.Sprintf("%s: image %q is not pinned by digest", cname, image))
			}
		}
	}
	return problems
}

func kind(docs []map[string]any, k string) []map[string]any {
	var out []map[string]any
	for _, d := range docs {
		if d["kind"] == k {
			out = append(out, d)
		}
	}
	return out
}

// TestHelmChart: the packaged chart is reproducible, passes helm lint, and
// renders a non-root StatefulSet with its volume, two Services and a
// NetworkPolicy admitting HAProxy's pods to SPOP, with the image by digest.
func TestHelmChart(t *testing.T) {
	t.Parallel()
	helm := helm(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	run(t, reproducibleEnv, "scripts/dist-helm", testVersion, dirA, testDigest)
	run(t, reproducibleEnv, "scripts/dist-helm", testVersion, dirB, testDigest)
	chart := filepath.Join(dirA, "headcount-"+testVersion+".tgz")
	a, errA := os.ReadFile(chart)
	b, errB := os.ReadFile(filepath.Join(dirB, "headcount-"+testVersion+".tgz"))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two packagings of the same chart differ")
	}

	lint := run(t, nil, helm, "lint", "--strict", chart)
	t.Logf("helm lint --strict:\n%s", lint)
	if !strings.Contains(lint, "1 chart(s) linted, 0 chart(s) failed") {
		t.Errorf("helm lint: %s", lint)
	}

	rendered := run(t, nil, helm, "template", "meter", chart, "--namespace", "edge")
	if strings.Contains(strings.ToLower(rendered), "latest") {
		t.Errorf("the rendered chart says latest:\n%s", rendered)
	}
	docs := manifests(t, rendered)
	if p := podProblems(docs); len(p) > 0 {
		t.Errorf("rendered chart:\n%s", strings.Join(p, "\n"))
	}
	sts := kind(docs, "StatefulSet")
	if len(sts) != 1 {
		t.Fatalf("%d StatefulSets rendered, want 1", len(sts))
	}
	spec := get(sts[0], "spec", "template", "spec")
	c := list(get(spec, "containers"))[0]
	if img := get(c, "image"); img != "headcount@"+testDigest {
		t.Errorf("image %v, want headcount@%s", img, testDigest)
	}
	args := list(get(c, "args"))
	for _, want := range []string{"serve", "--db=/var/lib/headcount/headcount.db", "--spoe-addr=:12345", "--admin-addr=:9345"} {
		if !slices.Contains(args, any(want)) {
			t.Errorf("container args %v lack %s", args, want)
		}
	}
	mounted := false
	for _, m := range list(get(c, "volumeMounts")) {
		if get(m, "name") == "data" && get(m, "mountPath") == "/var/lib/headcount" {
			mounted = true
		}
	}
	claims := list(get(sts[0], "spec", "volumeClaimTemplates"))
	if !mounted || len(claims) != 1 || get(claims[0], "metadata", "name") != "data" {
		t.Errorf("the database volume: mounted at /var/lib/headcount %v, claim templates %v", mounted, claims)
	}
	services := map[string]any{}
	for _, s := range kind(docs, "Service") {
		services[get(s, "metadata", "name").(string)] = get(list(get(s, "spec", "ports"))[0], "port")
	}
	if services["meter-headcount-spop"] != 12345 || services["meter-headcount-admin"] != 9345 || len(services) != 2 {
		t.Errorf("services %v, want meter-headcount-spop:12345 and meter-headcount-admin:9345", services)
	}
	if from := spopPeers(t, docs); len(from) != 1 || fmt.Sprint(get(from[0], "podSelector", "matchLabels")) != "map[app.kubernetes.io/name:haproxy]" {
		t.Errorf("NetworkPolicy SPOP peers %v, want HAProxy's pods (app.kubernetes.io/name=haproxy)", from)
	}

	// HAProxy's own labels (instead of the default one) and namespace
	// select the SPOP peers; a config becomes headcount.yaml.
	docs = manifests(t, run(t, nil, helm, "template", "meter", chart,
		"--set", "networkPolicy.haproxy.podLabels.app=edge-haproxy", "--set", "networkPolicy.haproxy.namespaceLabels.team=edge",
		"--set", "config.idle-timeout=20m"))
	from := spopPeers(t, docs)
	if len(from) != 1 || fmt.Sprint(get(from[0], "podSelector", "matchLabels")) != "map[app:edge-haproxy]" ||
		fmt.Sprint(get(from[0], "namespaceSelector", "matchLabels")) != "map[team:edge]" {
		t.Errorf("NetworkPolicy SPOP peers %v, want the labels given", from)
	}
	if cm := kind(docs, "ConfigMap"); len(cm) != 1 || get(cm[0], "data", "headcount.yaml") != "idle-timeout: 20m\n" {
		t.Errorf("config: ConfigMaps %v", cm)
	}

	// The checks above do catch a root container and an image by tag.
	docs = manifests(t, run(t, nil, helm, "template", "meter", chart, "--set", "securityContext.runAsUser=0", "--set", "securityContext.readOnlyRootFilesystem=false"))
	if p := podProblems(docs); len(p) != 2 {
		t.Errorf("a root, writable container gives problems %q, want 2", p)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"template", "meter", filepath.Join(root(t), "deploy", "helm", "headcount")}},
		{[]string{"template", "meter", chart, "--set", "image.digest=latest"}},
	} {
		out, err := runErr(t, nil, helm, c.args...)
		if err == nil || !strings.Contains(out, "image.digest") {
			t.Errorf("helm %s: %v, want a refusal naming image.digest:\n%s", strings.Join(c.args, " "), err, out)
		}
	}
}

func spopPeers(t *testing.T, docs []map[string]any) []any {
	t.Helper()
	np := kind(docs, "NetworkPolicy")
	if len(np) != 1 {
		t.Fatalf("%d NetworkPolicies rendered, want 1", len(np))
	}
	for _, rule := range list(get(np[0], "spec", "ingress")) {
		for _, p := range list(get(rule, "ports")) {
			if get(p, "port") == "spop" {
				return list(get(rule, "from"))
			}
		}
	}
	t.Fatalf("the NetworkPolicy has no rule for the spop port: %v", np[0])
	return nil
}

// scrape starts the real agent and returns its /metrics as metric name →
// the label sets of its samples.
func scrape(t *testing.T) map[string][]map[string]string {
	t.Helper()
	amd64, _ := binaries(t)
	bin := amd64
	if runtime.GOARCH != "amd64" {
		bin = filepath.Join(t.TempDir(), "headcount")
		run(t, []string{"CGO_ENABLED=0"}, "go", "build", "-o", bin, "./cmd/headcount")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--db", filepath.Join(dir, "headcount.db"), "--spoe-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	// The start line names the admin address actually bound.
	var admin string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var line struct {
			Message   string `json:"message"`
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.AdminAddr != "" {
			admin = line.AdminAddr
			break
		}
	}
	if admin == "" {
		t.Fatalf("the agent stopped without logging its admin address: %v", sc.Err())
	}
	go io.Copy(io.Discard, stdout)
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	body := string(raw)
	metrics := map[string][]map[string]string{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	for _, l := range strings.Split(body, "\n") {
		m := sample.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, lm := range label.FindAllStringSubmatch(m[2], -1) {
			labels[lm[1]] = lm[2]
		}
		metrics[m[1]] = append(metrics[m[1]], labels)
	}
	if len(metrics["headcount_sessions_active"]) != 1 {
		t.Fatalf("/metrics has no headcount_sessions_active:\n%s", body)
	}
	return metrics
}

// selector matches a metric name and its optional label matchers in PromQL.
var selectorRE = regexp.MustCompile(`\b((?:headcount|process|go)_[a-z0-9_]+)\b(\{[^}]*\})?`)
var matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"([^"]*)"`)

// missing lists the metrics, and label values matched with =, that expr
// queries and /metrics does not have.
func missing(metrics map[string][]map[string]string, expr string) []string {
	var out []string
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		samples, ok := metrics[m[1]]
		if !ok {
			out = append(out, m[1])
			continue
		}
		for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			if lm[2] != "=" {
				continue
			}
			found := false
			for _, s := range samples {
				found = found || s[lm[1]] == lm[3]
			}
			if !found {
				out = append(out, fmt.Sprintf("%s{%s=%q}", m[1], lm[1], lm[3]))
			}
		}
	}
	return out
}

// TestAlertRules: promtool accepts the rules, every alert the operations
// guide names is there, and the metrics they query are the agent's.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool", "apt-get install prometheus (it ships promtool)")
	out := run(t, nil, promtool, "check", "rules", "deploy/prometheus/alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	t.Logf("promtool check rules: %s", strings.TrimSpace(out))
	data, err := os.ReadFile(filepath.Join(root(t), "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	metrics := scrape(t)
	alerts := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r.Expr
		}
	}
	for _, name := range []string{"HeadcountDown", "HeadcountCoverageLost", "HeadcountHAProxyNeverConnected", "HeadcountHAProxyNotConnected",
		"HeadcountFlushErrors", "HeadcountPendingFileErrors", "HeadcountEntriesSetAside", "HeadcountOverflow",
		"HeadcountEntitlementInGrace", "HeadcountEntitlementOver", "HeadcountLicenceProblem", "HeadcountUsageTransmissionFailing"} {
		expr, ok := alerts[name]
		if !ok {
			t.Errorf("alert %s is missing", name)
			continue
		}
		var absent []string
		for _, m := range missing(metrics, expr) {
			// Sessions completed for overflow (--max-live-sessions) are
			// counted under a reason this agent may not have yet; the
			// metric itself must exist.
			if m != `headcount_sessions_completed_total{reason="overflow"}` {
				absent = append(absent, m)
			}
		}
		if len(absent) > 0 {
			t.Errorf("alert %s queries %v, which the agent's /metrics does not have", name, absent)
		}
	}
	if len(alerts) != 12 {
		t.Errorf("%d alerts, want the 12 listed", len(alerts))
	}
}

// TestDashboard: the Grafana dashboard parses, its queries are valid PromQL
// (promtool) and every metric and label value they select is in the agent's
// /metrics.
func TestDashboard(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool", "apt-get install prometheus (it ships promtool)")
	data, err := os.ReadFile(filepath.Join(root(t), "deploy", "grafana", "headcount.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name  string
				Query any
			}
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("deploy/grafana/headcount.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := get(v.Query, "query").(string); ok {
			exprs = append(exprs, q)
		}
	}
	if dash.UID != "headcount" || len(exprs) < 20 {
		t.Fatalf("dashboard %q has %d queries", dash.UID, len(exprs))
	}

	// promtool parses each panel query as a recording rule; Grafana's
	// variables become a regular expression.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		if strings.HasPrefix(e, "label_values(") {
			continue
		}
		q, _ := json.Marshal(strings.ReplaceAll(e, "$instance", ".*"))
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, promtool, "check", "rules", file)

	metrics := scrape(t)
	for _, e := range exprs {
		if m := missing(metrics, e); len(m) > 0 {
			t.Errorf("dashboard query %q selects %v, which the agent's /metrics does not have", e, m)
		}
	}
	// The checker does notice a metric the agent lacks.
	if m := missing(metrics, `rate(headcount_sessions_completed_total{reason="nosuchreason"}[5m]) + headcount_no_such_metric`); len(m) != 2 {
		t.Errorf("missing() found %v in a query with two absent selections", m)
	}
}
