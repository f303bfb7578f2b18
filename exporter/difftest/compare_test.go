package difftest

import (
	"slices"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	const base = `# TYPE probe_success gauge
probe_success 1
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.010
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.001
probe_http_duration_seconds{phase="tls"} 0
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry 1.8e+09
`
	tests := []struct {
		name           string
		other          string
		wantMismatches int
		wantOnlyA      []string
		wantOnlyB      []string
	}{
		{"identical", base, 0, nil, nil},
		{"duration within tolerance", replace(base, "probe_duration_seconds 0.010", "probe_duration_seconds 0.9"), 0, nil, nil},
		{"duration beyond tolerance", replace(base, "probe_duration_seconds 0.010", "probe_duration_seconds 1.2"), 1, nil, nil},
		{"negative duration", replace(base, `phase="tls"} 0`, `phase="tls"} -0.1`), 1, nil, nil},
		{"timestamp off by a second", replace(base, "1.8e+09", "1.800000001e+09"), 1, nil, nil},
		{"value differs", replace(base, "probe_success 1", "probe_success 0"), 1, nil, nil},
		{"label set differs", replace(base, `phase="tls"`, `phase="transfer"`), 2, nil, nil},
		{"type differs", replace(base, "# TYPE probe_success gauge", "# TYPE probe_success counter"), 1, nil, nil},
		{"metric missing", replace(base, "# TYPE probe_success gauge\nprobe_success 1\n", ""), 0, []string{"probe_success"}, nil},
		{"metric added", base + "# TYPE probe_failure_info gauge\nprobe_failure_info{failure_type=\"http\",reason=\"http_status\"} 1\n", 0, nil, []string{"probe_failure_info"}},
	}
	a, err := ParseMetrics([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseMetrics([]byte(tc.other))
			if err != nil {
				t.Fatal(err)
			}
			c := Compare(a, b, 1.0)
			if len(c.Mismatches) != tc.wantMismatches {
				t.Errorf("mismatches = %q, want %d", c.Mismatches, tc.wantMismatches)
			}
			if !slices.Equal(c.OnlyA, tc.wantOnlyA) || !slices.Equal(c.OnlyB, tc.wantOnlyB) {
				t.Errorf("only first %v, only second %v; want %v, %v", c.OnlyA, c.OnlyB, tc.wantOnlyA, tc.wantOnlyB)
			}
		})
	}
}

// replace replaces old in s, and insists that old is there so a case cannot silently test
// nothing.
func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}
