package storage

import (
	"database/sql/driver"
	"strings"
	"unicode"

	"modernc.org/sqlite"
)

// FoldCaseSQL is the SQLite function that folds text as FoldCase does:
// SQLite's own lower() folds ASCII letters only, so "Ärger" would not
// find "ärger". It is deterministic, so SQLite may use it in indexes and
// evaluate it once per row.
const FoldCaseSQL = "protoloop_fold"

// FoldCase folds s for comparing without regard to case, in every
// script: each character becomes the lower case of its upper case, so
// "Ä" and "ä", "İ" and "i", "Σ", "σ" and "ς" compare equal. Character by
// character, so it never splits or merges words ("ß" stays "ß").
func FoldCase(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
}

func init() {
	// Registered for every connection the driver opens from now on.
	sqlite.MustRegisterDeterministicScalarFunction(FoldCaseSQL, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return FoldCase(v), nil
		case []byte:
			return FoldCase(string(v)), nil
		default:
			return v, nil // NULL, numbers: nothing to fold
		}
	})
}
