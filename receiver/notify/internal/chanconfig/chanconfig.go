// Package chanconfig holds what every channel's Config needs: strict YAML decoding inside a
// per-struct UnmarshalYAML, and secrets given inline or as a file.
package chanconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

var nodeUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// Unmarshal is the body of a channel Config's UnmarshalYAML: it zeroes out (a pointer to the
// Config converted to a type without the UnmarshalYAML method, so decoding does not recurse),
// decodes node into it strictly (Decode) and runs validate. Errors start with channel.
func Unmarshal(channel string, node *yaml.Node, out any, validate func() error) error {
	reflect.ValueOf(out).Elem().SetZero()
	if err := Decode(node, out); err != nil {
		return fmt.Errorf("%s: %w", channel, err)
	}
	if err := validate(); err != nil {
		return fmt.Errorf("%s: %w", channel, err)
	}
	return nil
}

// Decode decodes node into out (a pointer to a struct), rejecting keys out does not know.
// yaml.v3's Node.Decode does not inherit the top-level decoder's KnownFields(true), so a
// per-struct UnmarshalYAML must check the keys itself; nested structs (http_config,
// tls_config, ...) are checked too, except those with their own UnmarshalYAML(*yaml.Node),
// which check themselves.
func Decode(node *yaml.Node, out any) error {
	if err := checkKeys(node, reflect.TypeOf(out), "", true); err != nil {
		return err
	}
	return node.Decode(out)
}

func checkKeys(node *yaml.Node, t reflect.Type, path string, top bool) error {
	for node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	for t.Kind() == reflect.Pointer {
		if !top && t.Implements(nodeUnmarshaler) {
			return nil
		}
		t = t.Elem()
	}
	if !top && reflect.PointerTo(t).Implements(nodeUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return nil // a scalar decoded by the type itself (e.g. a URL); Decode reports type errors
		}
		fields := map[string]reflect.Type{}
		inlineMap := structFields(t, fields)
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			if key.Value == "<<" {
				continue
			}
			ft, ok := fields[key.Value]
			if !ok && inlineMap != nil {
				ft, ok = inlineMap.Elem(), true // any key goes into the inline map
			}
			if !ok {
				return fmt.Errorf("line %d: unknown key %q%s (known keys: %s)",
					key.Line, key.Value, in(path), knownKeys(fields))
			}
			if err := checkKeys(value, ft, join(path, key.Value), false); err != nil {
				return err
			}
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			if err := checkKeys(node.Content[i+1], t.Elem(), join(path, node.Content[i].Value), false); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if node.Kind != yaml.SequenceNode {
			return nil
		}
		for i, item := range node.Content {
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), false); err != nil {
				return err
			}
		}
	}
	return nil
}

// structFields collects the YAML keys of t's fields the way yaml.v3 names them, following
// `yaml:",inline"` structs. It returns the type of an inline map (which takes every other
// key), or nil.
func structFields(t reflect.Type, fields map[string]reflect.Type) (inlineMap reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				if m := structFields(ft, fields); m != nil {
					inlineMap = m
				}
			case reflect.Map:
				inlineMap = ft
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return inlineMap
}

func knownKeys(fields map[string]reflect.Type) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func in(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// CheckSecret validates a secret given as key (inline) or key_file: not both, and, when
// required, one of them. It does not read the file: relative paths are resolved against the
// config file's directory (SetDirectory) after decoding, and the channel's New checks them.
func CheckSecret(key string, value commoncfg.Secret, file string, required bool) error {
	switch {
	case value != "" && file != "":
		return fmt.Errorf("at most one of %s and %s_file may be set", key, key)
	case required && value == "" && file == "":
		return fmt.Errorf("%s or %s_file is required", key, key)
	}
	return nil
}

// CheckURLSecret validates a required URL given as key (inline) or key_file: one of them, and
// an inline one must be an http(s) URL. The file is read later (see CheckSecret).
func CheckURLSecret(key string, value commoncfg.Secret, file string) error {
	if err := CheckSecret(key, value, file, true); err != nil {
		return err
	}
	if value != "" {
		if _, err := URLSecret(key, value, ""); err != nil {
			return err
		}
	}
	return nil
}

// ReadSecret returns the inline value, or the content of file without its trailing newline.
// Channels call it on every delivery, so a rotated secret file needs no reload.
func ReadSecret(value commoncfg.Secret, file string) (string, error) {
	if file == "" {
		return string(value), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", errors.New("secret file " + file + " is empty")
	}
	return s, nil
}

// CheckURL checks that s is an absolute http or https URL. Errors never quote s: webhook
// URLs carry their secret.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Host == "" {
		return errors.New("host is missing")
	}
	return nil
}

// URLSecret returns the URL given inline or as a file, checked.
func URLSecret(key string, value commoncfg.Secret, file string) (string, error) {
	s, err := ReadSecret(value, file)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if err := CheckURL(s); err != nil {
		if file != "" {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return s, nil
}
