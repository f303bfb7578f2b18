// Package deploy checks the container deployment (docker-compose.yml, Dockerfile, Grafana
// provisioning) without a Docker engine: every mounted path exists, and every service's
// command line and configuration are accepted by the program it runs.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siteward/siteward/internal/testutil"
)

// composeFile is the subset of the Compose specification that docker-compose.yml uses. It is
// decoded strictly, so a misspelt key fails here rather than being ignored by `docker compose`;
// add a field when the file starts using a new key.
type composeFile struct {
	Name     string               `yaml:"name"`
	Services map[string]service   `yaml:"services"`
	Volumes  map[string]*struct{} `yaml:"volumes"` // named volumes, all with default options
}

type service struct {
	Image       string               `yaml:"image"`
	Build       *buildSpec           `yaml:"build"`
	NetworkMode string               `yaml:"network_mode"`
	Restart     string               `yaml:"restart"`
	Entrypoint  []string             `yaml:"entrypoint"`
	Command     []string             `yaml:"command"`
	Environment map[string]string    `yaml:"environment"`
	Volumes     []string             `yaml:"volumes"`
	DependsOn   map[string]dependsOn `yaml:"depends_on"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

// buildSpec accepts both `build: DIR` and `build: {context: DIR, dockerfile: FILE}`.
type buildSpec struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *buildSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain buildSpec
	return n.Decode((*plain)(b))
}

// mount is one entry of a service's `volumes` in the short syntax SOURCE:TARGET[:MODE].
type mount struct {
	Source string // a repository path (bind mount) or a named volume
	Target string // the path inside the container
	Bind   bool
}

func parseMount(s string) (mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || !strings.HasPrefix(parts[1], "/") {
		return mount{}, fmt.Errorf("volume %q: want SOURCE:/container/path[:ro]", s)
	}
	if len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" {
		return mount{}, fmt.Errorf("volume %q: mode %q, want ro or rw", s, parts[2])
	}
	src := parts[0]
	return mount{Source: src, Target: parts[1], Bind: strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/")}, nil
}

var repoRoot = testutil.RepoRoot()

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func mounts(t *testing.T, name string, s service) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		m, err := parseMount(v)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		out = append(out, m)
	}
	return out
}

// The services that the rest of this file checks in detail; a new service needs a check too.
var wantServices = []string{"token-init", "demo-site", "exporter", "receiver", "prometheus", "alertmanager", "grafana"}

func TestComposeServicesAndMounts(t *testing.T) {
	c := loadCompose(t)
	var names []string
	for name := range c.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	want := slices.Clone(wantServices)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("services = %v, want %v", names, want)
	}
	for name, s := range c.Services {
		t.Run(name, func(t *testing.T) {
			// prometheus.yml and alertmanager.yml address the other services on localhost.
			if s.NetworkMode != "host" {
				t.Errorf("network_mode = %q, want host", s.NetworkMode)
			}
			if s.Image == "" && s.Build == nil {
				t.Error("needs an image or a build")
			}
			if s.Build != nil {
				ctx := filepath.Join(repoRoot, s.Build.Context)
				dockerfile := s.Build.Dockerfile
				if dockerfile == "" {
					dockerfile = "Dockerfile"
				}
				if _, err := os.Stat(filepath.Join(ctx, dockerfile)); err != nil {
					t.Errorf("build: %v", err)
				}
			}
			for _, m := range mounts(t, name, s) {
				if !m.Bind {
					if _, ok := c.Volumes[m.Source]; !ok {
						t.Errorf("named volume %q is not declared under top-level volumes", m.Source)
					}
					continue
				}
				if strings.HasPrefix(m.Source, "/") {
					t.Errorf("bind mount %q: use a path relative to the repository", m.Source)
				}
				if _, err := os.Stat(filepath.Join(repoRoot, m.Source)); err != nil {
					t.Errorf("bind mount %s: %v", m.Source, err)
				}
			}
			for dep := range s.DependsOn {
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("depends_on %q: no such service", dep)
				}
			}
		})
	}
}

// containerFS lays out what a service sees in its container under a temporary directory:
// each bind mount is a symlink to the repository path and each named volume a directory
// shared by all services that mount it, as with Docker. Container paths are then paths
// under root.
type containerFS struct {
	root string
}

func newContainerFS(t *testing.T, ms []mount, volumes map[string]string) containerFS {
	t.Helper()
	root := t.TempDir()
	for _, m := range ms {
		src := filepath.Join(repoRoot, m.Source)
		if !m.Bind {
			src = volumes[m.Source]
		}
		dst := filepath.Join(root, m.Target)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	return containerFS{root: root}
}

// path returns where a container path is on this machine.
func (c containerFS) path(p string) string { return filepath.Join(c.root, p) }

// args rewrites absolute container paths in flag values (`--flag=/path` or `/path`).
func (c containerFS) args(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		flag, value, isFlag := strings.Cut(a, "=")
		switch {
		case isFlag && strings.HasPrefix(value, "/"):
			out[i] = flag + "=" + c.path(value)
		case strings.HasPrefix(a, "/"):
			out[i] = c.path(a)
		default:
			out[i] = a
		}
	}
	return out
}

// namedVolumes creates one directory per named volume, filled as the stack's init service
// leaves it: token-init writes the webhook bearer token into `secrets`.
func namedVolumes(t *testing.T, c composeFile) map[string]string {
	t.Helper()
	vols := map[string]string{}
	for name := range c.Volumes {
		vols[name] = t.TempDir()
	}
	if dir, ok := vols["secrets"]; ok {
		if err := os.WriteFile(filepath.Join(dir, "receiver-token"), []byte("0123456789abcdef"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return vols
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// TestComposeSitewardCommands runs each siteward service's command line, with its mounted
// configuration, through the binary's --config.check.
func TestComposeSitewardCommands(t *testing.T) {
	c := loadCompose(t)
	vols := namedVolumes(t, c)
	for _, name := range []string{"exporter", "receiver"} {
		s := c.Services[name]
		t.Run(name, func(t *testing.T) {
			if len(s.Entrypoint) != 1 {
				t.Fatalf("entrypoint = %v, want [/usr/local/bin/siteward-...]", s.Entrypoint)
			}
			binary := filepath.Base(s.Entrypoint[0])
			if _, err := os.Stat(filepath.Join(repoRoot, "cmd", binary)); err != nil {
				t.Skipf("cmd/%s does not exist yet: %v", binary, err)
			}
			bin := testutil.BuildBinary(t, binary)
			fs := newContainerFS(t, mounts(t, name, s), vols)
			args := append(fs.args(s.Command), "--config.check")
			if out, err := run(t, bin, args...); err != nil {
				t.Errorf("%s %s: %v\n%s", binary, strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestComposePrometheus checks prometheus.yml and rules/ as the container sees them, and that
// Prometheus accepts the compose command line (Debian's prometheus parses the flags; --help
// stops it after parsing, and an unknown flag is an error).
func TestComposePrometheus(t *testing.T) {
	promtool := testutil.LookPath(t, "promtool")
	prometheus := testutil.LookPath(t, "prometheus")
	c := loadCompose(t)
	s := c.Services["prometheus"]
	fs := newContainerFS(t, mounts(t, "prometheus", s), namedVolumes(t, c))
	config := flagValue(t, s.Command, "--config.file")
	if out, err := run(t, promtool, "check", "config", fs.path(config)); err != nil {
		t.Errorf("promtool check config %s: %v\n%s", config, err, out)
	}
	args := append(fs.args(s.Command), "--help")
	if out, err := run(t, prometheus, args...); err != nil {
		t.Errorf("prometheus %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestComposeAlertmanager checks alertmanager.yml as the container sees it (with the token
// file token-init writes) and the compose command line.
func TestComposeAlertmanager(t *testing.T) {
	amtool := testutil.LookPath(t, "amtool")
	alertmanager := testutil.LookPath(t, "prometheus-alertmanager", "alertmanager")
	c := loadCompose(t)
	s := c.Services["alertmanager"]
	fs := newContainerFS(t, mounts(t, "alertmanager", s), namedVolumes(t, c))
	config := flagValue(t, s.Command, "--config.file")
	if out, err := run(t, amtool, "check-config", fs.path(config)); err != nil {
		t.Errorf("amtool check-config %s: %v\n%s", config, err, out)
	}
	args := append(fs.args(s.Command), "--help")
	if out, err := run(t, alertmanager, args...); err != nil {
		t.Errorf("alertmanager %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestHelpCatchesUnknownFlags makes sure the `--help` flag check above can fail.
func TestHelpCatchesUnknownFlags(t *testing.T) {
	prometheus := testutil.LookPath(t, "prometheus")
	if out, err := run(t, prometheus, "--no-such.flag=1", "--help"); err == nil {
		t.Errorf("prometheus accepted an unknown flag:\n%s", out)
	}
}

// TestComposeAddresses checks that, on the shared host network, every service listens where
// the mounted configs look for it: prometheus.yml scrapes the exporter and the receiver and
// alerts Alertmanager, alertmanager.yml posts to the receiver, Grafana queries Prometheus.
func TestComposeAddresses(t *testing.T) {
	c := loadCompose(t)
	listen := map[string]string{}
	for _, name := range []string{"exporter", "receiver", "prometheus", "alertmanager"} {
		addr := flagValue(t, c.Services[name].Command, "--web.listen-address")
		listen[name] = "localhost" + addr[strings.LastIndex(addr, ":"):]
	}
	for _, tc := range []struct {
		file    string
		service []string
	}{
		{"prometheus.yml", []string{"exporter", "receiver", "alertmanager"}},
		{"alertmanager.yml", []string{"receiver"}},
		{"deploy/grafana/provisioning/datasources/prometheus.yml", []string{"prometheus"}},
	} {
		b, err := os.ReadFile(filepath.Join(repoRoot, tc.file))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, s := range tc.service {
			if !bytes.Contains(b, []byte(listen[s])) {
				t.Errorf("%s does not address %s at %s, where docker-compose.yml makes it listen", tc.file, s, listen[s])
			}
		}
	}
}

func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	t.Fatalf("command %v has no %s=", args, flag)
	return ""
}

// TestGrafanaProvisioning checks that Grafana's provisioning, as mounted, points at
// Prometheus and at the repository's dashboards.
func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	s := c.Services["grafana"]
	fs := newContainerFS(t, mounts(t, "grafana", s), namedVolumes(t, c))

	var datasources struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string         `yaml:"name"`
			UID       string         `yaml:"uid"`
			Type      string         `yaml:"type"`
			Access    string         `yaml:"access"`
			URL       string         `yaml:"url"`
			IsDefault bool           `yaml:"isDefault"`
			Editable  bool           `yaml:"editable"`
			JSONData  map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	decodeStrict(t, fs.path("/etc/grafana/provisioning/datasources/prometheus.yml"), &datasources)
	if len(datasources.Datasources) != 1 {
		t.Fatalf("want one data source, got %d", len(datasources.Datasources))
	}
	if ds := datasources.Datasources[0]; ds.Type != "prometheus" || ds.URL != "http://localhost:9090" || !ds.IsDefault {
		t.Errorf("data source = %+v, want the default, type prometheus, url http://localhost:9090", ds)
	}

	var providers struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeStrict(t, fs.path("/etc/grafana/provisioning/dashboards/siteward.yml"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("want one file provider, got %+v", providers.Providers)
	}
	dashboards, err := filepath.Glob(filepath.Join(fs.path(providers.Providers[0].Options.Path), "*.json"))
	if err != nil || len(dashboards) != 3 {
		t.Errorf("provider path %s: found dashboards %v (%v), want the 3 in dashboards/", providers.Providers[0].Options.Path, dashboards, err)
	}
	home := s.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if _, err := os.Stat(fs.path(home)); home == "" || err != nil {
		t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH %q: %v", home, err)
	}
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var goBuildPackage = regexp.MustCompile(`\./cmd/([\w-]+)`)

// TestDockerfile checks that the image builds every binary a compose service starts, from
// command directories that exist, and that .dockerignore keeps the sources in the context.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(b)
	if !regexp.MustCompile(`(?m)^FROM golang:1\.26\b.* AS build$`).MatchString(dockerfile) {
		t.Error("want a `FROM golang:1.26... AS build` stage")
	}
	built := map[string]bool{}
	for _, m := range goBuildPackage.FindAllStringSubmatch(dockerfile, -1) {
		built[m[1]] = true
		if _, err := os.Stat(filepath.Join(repoRoot, "cmd", m[1])); err != nil {
			t.Errorf("Dockerfile builds ./cmd/%s: %v", m[1], err)
		}
	}
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		if len(s.Entrypoint) == 0 || !strings.HasPrefix(s.Entrypoint[0], "/usr/local/bin/") {
			t.Errorf("service %s: entrypoint %v, want /usr/local/bin/<binary>", name, s.Entrypoint)
			continue
		}
		if bin := filepath.Base(s.Entrypoint[0]); !built[bin] {
			t.Errorf("service %s starts %s, which the Dockerfile does not build", name, bin)
		}
	}

	ignored := dockerignore(t)
	for _, p := range []string{"go.mod", "go.sum", "cmd", "exporter", "receiver", "internal"} {
		for _, pattern := range ignored {
			if ok, _ := filepath.Match(pattern, p); ok {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pattern, p)
			}
		}
	}
}

func dockerignore(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, strings.Trim(line, "/"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return patterns
}
