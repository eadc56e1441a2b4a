package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/graph"
)

// The error codes of trusted documents, Apollo Router's for the same
// refusals: a hash not in the list (a client that retries with the full
// text would be refused again, so not PERSISTED_QUERY_NOT_FOUND), and a
// document sent as text that is not in it.
const (
	CodePersistedQueryNotInList graph.Code = "PERSISTED_QUERY_NOT_IN_LIST"
	CodeQueryNotInSafelist      graph.Code = "QUERY_NOT_IN_SAFELIST"
)

const (
	// apqCacheSize is how many documents Automatic Persisted Queries
	// remember by hash.
	apqCacheSize = 1000
	// maxAPQBytes is the largest document APQ remembers, so that its
	// cache stays under apqCacheSize × maxAPQBytes (32 MiB). A larger one
	// still runs; its client just keeps sending it in full.
	maxAPQBytes = 32 << 10
)

// TrustedDocuments are the only GraphQL documents a server configured with
// them runs, by the SHA-256 of their text (hex).
type TrustedDocuments struct {
	byHash map[string]string
}

// NewTrustedDocuments returns the trusted documents for a map from each
// document's SHA-256 (hex, as GraphQL Code Generator's persisted documents
// name them) to its text. It fails if a hash is not the text's.
func NewTrustedDocuments(byHash map[string]string) (*TrustedDocuments, error) {
	docs := &TrustedDocuments{byHash: make(map[string]string, len(byHash))}
	for h, text := range byHash {
		got := documentHash(text)
		if got != strings.ToLower(h) {
			return nil, fmt.Errorf("document %.16s…: its SHA-256 is %s (trusted documents are named by the SHA-256 of their text)", h, got)
		}
		docs.byHash[got] = text
	}
	return docs, nil
}

// LoadTrustedDocuments reads a manifest of trusted documents: either
// GraphQL Code Generator's persisted-documents.json, an object from each
// document's SHA-256 to its text, or an Apollo persisted query manifest
// ({"format": "apollo-persisted-query-manifest", "operations": [{"id",
// "body"}…]}).
func LoadTrustedDocuments(path string) (*TrustedDocuments, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trusted documents: %w", err)
	}
	docs, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("trusted documents %s: %w", path, err)
	}
	return docs, nil
}

func parseManifest(data []byte) (*TrustedDocuments, error) {
	var apollo struct {
		Format     string `json:"format"`
		Operations []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(data, &apollo); err == nil && apollo.Format != "" {
		if apollo.Format != "apollo-persisted-query-manifest" {
			return nil, fmt.Errorf("unknown manifest format %q", apollo.Format)
		}
		byHash := make(map[string]string, len(apollo.Operations))
		for _, op := range apollo.Operations {
			byHash[op.ID] = op.Body
		}
		return NewTrustedDocuments(byHash)
	}
	var byHash map[string]string
	if err := json.Unmarshal(data, &byHash); err != nil {
		return nil, fmt.Errorf("want a JSON object from SHA-256 to document, or an Apollo manifest: %w", err)
	}
	return NewTrustedDocuments(byHash)
}

// Len returns how many documents are trusted.
func (d *TrustedDocuments) Len() int { return len(d.byHash) }

func documentHash(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// persistedHash returns the hash a request names in
// extensions.persistedQuery.sha256Hash, as Apollo's and GraphQL Code
// Generator's clients send it, or "".
func persistedHash(ext map[string]any) string {
	pq, _ := ext["persistedQuery"].(map[string]any)
	h, _ := pq["sha256Hash"].(string)
	return strings.ToLower(h)
}

// withDocumentID puts the document a GraphQL over HTTP request names by
// documentId ("sha256:<hex>", or the bare hex GraphQL Code Generator's
// persisted documents send) into p's extensions as the
// persistedQuery hash that the trusted documents and APQ look up, so that
// the three ways of naming a document are one. It fails on another hash
// algorithm, a malformed hash, or an extensions.persistedQuery naming
// another document.
func withDocumentID(p *graphql.RawParams, documentID string) error {
	if documentID == "" {
		return nil
	}
	hash := strings.ToLower(strings.TrimPrefix(documentID, "sha256:"))
	if len(hash) != sha256.Size*2 || strings.Trim(hash, "0123456789abcdef") != "" {
		return fmt.Errorf("documentId %.80q: want sha256:<64 hex digits>", documentID)
	}
	if named := persistedHash(p.Extensions); named != "" && named != hash {
		return errors.New("documentId and extensions.persistedQuery name different documents")
	}
	if p.Extensions == nil {
		p.Extensions = map[string]any{}
	}
	p.Extensions["persistedQuery"] = map[string]any{"version": 1, "sha256Hash": hash}
	return nil
}

// trustedOnly is the gqlgen extension that lets only trusted documents
// run, named by hash or sent as text. It runs first, before the limits
// (trusted documents are the operator's own) and before parsing.
type trustedOnly struct{ docs *TrustedDocuments }

var (
	_ graphql.HandlerExtension          = trustedOnly{}
	_ graphql.OperationParameterMutator = trustedOnly{}
)

// ExtensionName implements graphql.HandlerExtension.
func (trustedOnly) ExtensionName() string { return "TrustedDocuments" }

// Validate implements graphql.HandlerExtension.
func (trustedOnly) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters implements graphql.OperationParameterMutator.
func (t trustedOnly) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if h := persistedHash(p.Extensions); h != "" {
		text, ok := t.docs.byHash[h]
		switch {
		case !ok:
			return limitError(CodePersistedQueryNotInList, "no trusted document has the hash %.64s", h)
		case p.Query != "" && p.Query != text:
			return limitError(CodeQueryNotInSafelist, "the document sent is not the trusted document of its hash")
		}
		p.Query = text
		return nil
	}
	if _, ok := t.docs.byHash[documentHash(p.Query)]; !ok {
		return limitError(CodeQueryNotInSafelist, "only trusted documents run on this server, and this is not one")
	}
	return nil
}

// holds reports whether text is a trusted document.
func (t trustedOnly) holds(text string) bool {
	_, ok := t.docs.byHash[documentHash(text)]
	return ok
}

// lookup returns the trusted document with the hash.
func (t trustedOnly) lookup(hash string) (string, bool) {
	text, ok := t.docs.byHash[strings.ToLower(hash)]
	return text, ok
}

// newAPQ returns gqlgen's Automatic Persisted Queries over a cache that
// keeps documents of at most maxAPQBytes.
func newAPQ() (extension.AutomaticPersistedQuery, func(string) (string, bool)) {
	c := apqCache{lru.New[string](apqCacheSize)}
	return extension.AutomaticPersistedQuery{Cache: c}, func(hash string) (string, bool) {
		return c.Get(context.Background(), strings.ToLower(hash))
	}
}

type apqCache struct{ *lru.LRU[string] }

// Add implements graphql.Cache, skipping large documents.
func (c apqCache) Add(ctx context.Context, hash string, query string) {
	if len(query) <= maxAPQBytes {
		c.LRU.Add(ctx, hash, query)
	}
}
