package pagesql

import (
	"slices"
	"testing"
)

// TestUniqueKeys: a parent key given twice gets one lateral page, not two
// (which would repeat its children).
func TestUniqueKeys(t *testing.T) {
	for _, c := range []struct{ in, want []int64 }{
		{nil, []int64{}},
		{[]int64{3, 1, 2}, []int64{3, 1, 2}},
		{[]int64{3, 1, 3, 2, 1, 3}, []int64{3, 1, 2}},
	} {
		if got := uniqueKeys(c.in); !slices.Equal(got, c.want) {
			t.Errorf("uniqueKeys(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
