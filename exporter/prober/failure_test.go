package prober

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/siteward/siteward/internal/testutil"
)

// TestReasonsDocumented keeps docs/exporter.md's reason table and Reasons equal, row for row.
func TestReasonsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "exporter.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([a-z]+)` \\| `([a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1)
	documented := map[FailureType][]Reason{}
	for _, row := range rows {
		documented[FailureType(row[1])] = append(documented[FailureType(row[1])], Reason(row[2]))
	}
	for failureType, reasons := range Reasons {
		if !slices.Equal(documented[failureType], reasons) {
			t.Errorf("%s: documented %v, code has %v", failureType, documented[failureType], reasons)
		}
	}
	for failureType := range documented {
		if _, ok := Reasons[failureType]; !ok {
			t.Errorf("documented failure_type %q is not in Reasons", failureType)
		}
	}
}
