// Command oci writes headcount's container image as an OCI image archive (an
// OCI image layout in a tar file), without a container engine: one image per
// static binary given, gathered in a multi-platform image index.
//
//	go run ./deploy/oci -version 0.2.0 -revision COMMIT -source URL -created UNIXTIME \
//	    -out dist/headcount_0.2.0_oci.tar amd64=bin/linux_amd64/headcount arm64=bin/linux_arm64/headcount
//
// The archive depends only on its inputs: every file time is -created, every
// owner numeric, every list sorted, the layers gzip-compressed without a name
// or time. It prints the image index's digest, the one a registry keeps when the
// archive is copied there with all its platforms (skopeo copy --all) and the one
// the Helm chart pins.
//
// The image is built from scratch: the binary at /usr/bin/headcount as the
// entrypoint, /var/lib/headcount (owned by 65532, mode 0700) as a volume, and
// the numeric user 65532:65532, so nothing in it runs as root. Its default
// arguments start the agent on the volume's database, listening on every
// interface of the pod (SPOP connections are still accepted only from the
// networks given with --allow, loopback by default).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	// User is the numeric user and group the image runs as (as distroless's
	// "nonroot"); no /etc/passwd is needed for a numeric user.
	User    = "65532:65532"
	userID  = 65532
	Binary  = "/usr/bin/headcount"
	DataDir = "/var/lib/headcount"
)

// DefaultArgs are the image's default arguments (its Cmd), after the
// entrypoint: the agent on the volume's database, listening on all of the
// pod's addresses.
var DefaultArgs = []string{"serve", "--db", DataDir + "/headcount.db", "--spoe-addr", ":12345", "--admin-addr", ":9345"}

// Image is what the archive is built from.
type Image struct {
	Version  string
	Revision string // commit the binaries were built from; no label when empty
	Source   string // where the source is found; no label when empty
	Created  time.Time
	Binaries []Platform // one image each, in this order
}

// Platform is one binary and the architecture it runs on.
type Platform struct {
	Arch   string // GOARCH: amd64, arm64
	Binary []byte
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

type index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type imageConfig struct {
	Created      string          `json:"created"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Variant      string          `json:"variant,omitempty"`
	Config       containerConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []history `json:"history"`
}

type containerConfig struct {
	User         string              `json:"User"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	Env          []string            `json:"Env"`
	WorkingDir   string              `json:"WorkingDir"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Volumes      map[string]struct{} `json:"Volumes"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// Labels are the image's OCI labels, also set as the index's annotations.
func (im Image) Labels() map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "headcount",
		"org.opencontainers.image.description": "Session meter behind HAProxy (SPOE agent)",
		"org.opencontainers.image.version":     im.Version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     im.Created.UTC().Format(time.RFC3339),
	}
	if im.Revision != "" {
		l["org.opencontainers.image.revision"] = im.Revision
	}
	if im.Source != "" {
		l["org.opencontainers.image.source"] = im.Source
	}
	return l
}

// blobs holds the content-addressed files of the layout by digest.
type blobs map[string][]byte

func (b blobs) add(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	b[d] = data
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (b blobs) addJSON(mediaType string, v any) descriptor {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed struct types are marshalled
	}
	return b.add(mediaType, data)
}

// Build returns the OCI image archive of im and the digest of its image index.
func Build(im Image) ([]byte, string, error) {
	if im.Version == "" {
		return nil, "", fmt.Errorf("no version given")
	}
	if len(im.Binaries) == 0 {
		return nil, "", fmt.Errorf("no binary given")
	}
	created := im.Created.UTC().Format(time.RFC3339)
	b := blobs{}
	idx := index{SchemaVersion: 2, MediaType: mediaIndex, Annotations: im.Labels()}
	seen := map[string]bool{}
	for _, p := range im.Binaries {
		if seen[p.Arch] {
			return nil, "", fmt.Errorf("architecture %s given twice", p.Arch)
		}
		seen[p.Arch] = true
		plat := platform{Architecture: p.Arch, OS: "linux"}
		if p.Arch == "arm64" {
			plat.Variant = "v8"
		}
		layer, err := layerTar(p.Binary, im.Created)
		if err != nil {
			return nil, "", err
		}
		diffID := sha256.Sum256(layer)
		gz, err := gzipped(layer)
		if err != nil {
			return nil, "", err
		}
		cfg := imageConfig{Created: created, Architecture: plat.Architecture, OS: plat.OS, Variant: plat.Variant}
		cfg.Config = containerConfig{
			User:         User,
			Entrypoint:   []string{Binary},
			Cmd:          DefaultArgs,
			Env:          []string{"PATH=/usr/bin"},
			WorkingDir:   DataDir,
			ExposedPorts: map[string]struct{}{"12345/tcp": {}, "9345/tcp": {}},
			Volumes:      map[string]struct{}{DataDir: {}},
			Labels:       im.Labels(),
			StopSignal:   "SIGTERM",
		}
		cfg.RootFS.Type = "layers"
		cfg.RootFS.DiffIDs = []string{"sha256:" + hex.EncodeToString(diffID[:])}
		cfg.History = []history{{Created: created, CreatedBy: "headcount deploy/oci: " + Binary + " and " + DataDir}}
		m := manifest{
			SchemaVersion: 2,
			MediaType:     mediaManifest,
			Config:        b.addJSON(mediaConfig, cfg),
			Layers:        []descriptor{b.add(mediaLayer, gz)},
		}
		md := b.addJSON(mediaManifest, m)
		md.Platform = &plat
		idx.Manifests = append(idx.Manifests, md)
	}
	id := b.addJSON(mediaIndex, idx)
	id.Annotations = map[string]string{"org.opencontainers.image.ref.name": im.Version}
	top := index{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []descriptor{id}}
	topJSON, err := json.Marshal(top)
	if err != nil {
		return nil, "", err
	}
	files := map[string][]byte{
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json": topJSON,
	}
	for d, data := range b {
		files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] = data
	}
	archive, err := writeTar(im.Created, []string{"blobs/", "blobs/sha256/"}, files)
	if err != nil {
		return nil, "", err
	}
	return archive, id.Digest, nil
}

// layerTar is the image's only layer: the binary, and the data directory
// owned by the image's user.
func layerTar(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: uid, ModTime: mtime, Format: tar.FormatPAX}
	}
	entries := []*tar.Header{
		dir("usr/", 0o755, 0),
		dir("usr/bin/", 0o755, 0),
		{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(Binary, "/"), Mode: 0o755, Size: int64(len(binary)), ModTime: mtime, Format: tar.FormatPAX},
		dir("var/", 0o755, 0),
		dir("var/lib/", 0o755, 0),
		dir(strings.TrimPrefix(DataDir, "/")+"/", 0o700, userID),
	}
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(binary); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipped compresses data with no name and no time in the gzip header.
func gzipped(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTar writes dirs and then files in name order, all owned by root with
// mode 0644 (0755 for directories) and time mtime.
func writeTar(mtime time.Time, dirs []string, files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "deploy/oci:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("oci", flag.ContinueOnError)
	version := fs.String("version", "", "image version (label org.opencontainers.image.version)")
	revision := fs.String("revision", "", "source commit (label org.opencontainers.image.revision)")
	source := fs.String("source", "", "where the source is found (label org.opencontainers.image.source)")
	created := fs.Int64("created", 0, "Unix time used for every file and the created label (e.g. the commit's time)")
	out := fs.String("out", "", "write the OCI image archive to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("usage: oci -version V -out FILE.tar [-revision COMMIT] [-source URL] [-created UNIXTIME] ARCH=BINARY...")
	}
	im := Image{Version: *version, Revision: *revision, Source: *source, Created: time.Unix(*created, 0).UTC()}
	for _, a := range fs.Args() {
		arch, path, ok := strings.Cut(a, "=")
		if !ok || arch == "" || path == "" {
			return fmt.Errorf("%q: give each binary as ARCH=PATH, e.g. amd64=bin/headcount", a)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		im.Binaries = append(im.Binaries, Platform{Arch: arch, Binary: data})
	}
	archive, digest, err := Build(im)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, archive, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, digest)
	return err
}
