package chanconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

type inner struct {
	Level string `yaml:"level"`
}

type embedded struct {
	Shared string `yaml:"shared"`
}

type sample struct {
	Name       string                      `yaml:"name"`
	Untagged   int                         // yaml.v3 names it "untagged"
	Skipped    string                      `yaml:"-"`
	Inner      *inner                      `yaml:"inner,omitempty"`
	List       []inner                     `yaml:"list"`
	ByName     map[string]inner            `yaml:"by_name"`
	HTTPConfig *commoncfg.HTTPClientConfig `yaml:"http_config"`
	embedded   `yaml:",inline"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{name: "all known", in: "name: a\nuntagged: 1\nshared: s\ninner: {level: x}\nlist: [{level: y}]\nby_name: {k: {level: z}}\nhttp_config: {follow_redirects: false, tls_config: {server_name: x}}\n"},
		{name: "unknown top-level", in: "name: a\nnmae: b\n", wantErr: `line 2: unknown key "nmae" (known keys: by_name, http_config, inner, list, name, shared, untagged)`},
		{name: "skipped field is unknown", in: "skipped: x\n", wantErr: `line 1: unknown key "skipped"`},
		{name: "nested struct", in: "inner:\n  level: x\n  lvl: y\n", wantErr: `line 3: unknown key "lvl" in inner (known keys: level)`},
		{name: "in a list", in: "list:\n- level: x\n- levl: y\n", wantErr: `line 3: unknown key "levl" in list[1]`},
		{name: "in a map value", in: "by_name:\n  k: {levl: z}\n", wantErr: `unknown key "levl" in by_name.k`},
		{name: "inline map takes any key", in: "http_config:\n  http_headers:\n    X-Api-Key: {values: [k]}\n"},
		{name: "inside an inline map value", in: "http_config:\n  http_headers:\n    X-Api-Key: {value: k}\n", wantErr: `line 3: unknown key "value" in http_config.http_headers.X-Api-Key`},
		{name: "in a third-party struct", in: "http_config:\n  tls_config:\n    insecure: true\n", wantErr: `line 3: unknown key "insecure" in http_config.tls_config`},
		{name: "through an alias", in: "http_config: &h {follow_redirects: true}\ninner: *h\n", wantErr: `unknown key "follow_redirects" in inner`},
		{name: "type error still reported", in: "untagged: many\n", wantErr: "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var node yaml.Node
			if err := yaml.Unmarshal([]byte(tc.in), &node); err != nil {
				t.Fatal(err)
			}
			var out sample
			err := Decode(&node, &out)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.HTTPConfig != nil && out.HTTPConfig.HTTPHeaders != nil {
					if got := out.HTTPConfig.HTTPHeaders.Headers["X-Api-Key"].Values; len(got) != 1 || got[0] != "k" {
						t.Fatalf("http_headers decoded as %+v", out.HTTPConfig.HTTPHeaders)
					}
					return
				}
				if out.Name != "a" || out.Untagged != 1 || out.Shared != "s" || out.Inner.Level != "x" || out.ByName["k"].Level != "z" || out.HTTPConfig.TLSConfig.ServerName != "x" {
					t.Fatalf("decoded %+v", out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s")
	if err := os.WriteFile(file, []byte("value\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value    commoncfg.Secret
		file     string
		required bool
		wantErr  string
	}{
		{value: "v", required: true},
		{file: file, required: true},
		{required: false},
		{required: true, wantErr: "token or token_file is required"},
		{value: "v", file: file, wantErr: "at most one of token and token_file may be set"},
	} {
		err := CheckSecret("token", tc.value, tc.file, tc.required)
		if (err == nil) != (tc.wantErr == "") || err != nil && err.Error() != tc.wantErr {
			t.Errorf("CheckSecret(%q, %q, %v) = %v, want %q", tc.value, tc.file, tc.required, err, tc.wantErr)
		}
	}
	if got, err := ReadSecret("", file); err != nil || got != "value" {
		t.Errorf("ReadSecret(file) = %q, %v", got, err)
	}
	if got, err := ReadSecret("inline", ""); err != nil || got != "inline" {
		t.Errorf("ReadSecret(inline) = %q, %v", got, err)
	}
}

func TestURLSecret(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.org/x": "",
		"http://127.0.0.1:8080/":      "",
		"ftp://hooks.example.org/":    "url: scheme must be http or https",
		"https:///path":               "url: host is missing",
		"hooks.example.org/x":         "url: scheme must be http or https",
		"https://[::1":                "url: not a valid URL",
	} {
		_, err := URLSecret("url", commoncfg.Secret(in), "")
		if (err == nil) != (want == "") || err != nil && err.Error() != want {
			t.Errorf("URLSecret(%q) = %v, want %q", in, err, want)
		}
	}
}

type unmarshalSample struct {
	Name  string `yaml:"name"`
	Level string `yaml:"level"`
}

func (c *unmarshalSample) validate() error {
	if c.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in, wantErr string
		want        unmarshalSample
	}{
		{in: "name: a", want: unmarshalSample{Name: "a"}}, // level from before is cleared
		{in: "level: x", wantErr: "test: name is required"},
		{in: "name: a\nnope: 1", wantErr: `test: line 2: unknown key "nope"`},
	} {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(tc.in), &node); err != nil {
			t.Fatal(err)
		}
		c := unmarshalSample{Level: "from before"}
		err := Unmarshal("test", &node, &c, c.validate)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && c != tc.want:
			t.Errorf("%q: decoded %+v, want %+v", tc.in, c, tc.want)
		}
	}
}

func TestCheckURLSecret(t *testing.T) {
	for _, tc := range []struct {
		value   commoncfg.Secret
		file    string
		wantErr string
	}{
		{value: "https://hooks.example.org/x"},
		{file: "/run/secrets/url"}, // read later, by the channel's New
		{wantErr: "webhook_url or webhook_url_file is required"},
		{value: "https://hooks.example.org/x", file: "/run/secrets/url", wantErr: "at most one of webhook_url and webhook_url_file may be set"},
		{value: "hooks.example.org/x", wantErr: "webhook_url: scheme must be http or https"},
	} {
		err := CheckURLSecret("webhook_url", tc.value, tc.file)
		if (err == nil) != (tc.wantErr == "") || err != nil && err.Error() != tc.wantErr {
			t.Errorf("CheckURLSecret(%q, %q) = %v, want %q", tc.value, tc.file, err, tc.wantErr)
		}
	}
}
