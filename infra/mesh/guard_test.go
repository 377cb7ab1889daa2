package mesh

import (
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The hook compares the record's inputs before and after the update: only a revision the new
// list lacks makes it wait for pods.
func TestRevisionGuardReadsWhatIsDropped(t *testing.T) {
	record := func(list string) resource.PropertyMap {
		return resource.NewPropertyMapFromMap(map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{RevisionsAnnotation: list}},
		})
	}
	for _, c := range []struct {
		name, old, new string
		want           []string
	}{
		{"canary started", "1-31-4", "1-31-4 1-32-0", nil},
		{"upgrade finished", "1-31-4 1-32-0", "1-32-0", []string{"1-31-4"}},
		{"canary rolled back", "1-31-4 1-32-0", "1-31-4", []string{"1-32-0"}},
		{"finished in one step", "1-31-4", "1-32-0", []string{"1-31-4"}},
		{"unchanged", "1-31-4", "1-31-4", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := dropped(revisionsIn(record(c.old)), revisionsIn(record(c.new))); !slices.Equal(got, c.want) {
				t.Errorf("dropped %v, want %v", got, c.want)
			}
		})
	}
	if got := revisionsIn(resource.PropertyMap{}); got != nil {
		t.Errorf("a record without the annotation lists %v", got)
	}
}
