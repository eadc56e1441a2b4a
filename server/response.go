package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/graph"
)

// The response media types of GraphQL over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// postQueries is gqlgen's POST transport (JSON bodies only) answering
// with writeResponse instead of json.Marshal. See runOperation.
type postQueries struct{ transport.POST }

var _ graphql.Transport = postQueries{}

// Do implements graphql.Transport.
func (postQueries) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMediaType(r)
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	// limitBody has read the body into memory already.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(r.Context(), gqlerror.List{gqlerror.Errorf("could not read request body: %v", err)}))
		return
	}
	var req struct {
		graphql.RawParams
		DocumentID string `json:"documentId"` // GraphQL over HTTP's persisted documents
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(r.Context(), gqlerror.List{
			gqlerror.Errorf("json request body could not be decoded: %v body:%s", err, body),
		}))
		return
	}
	params := req.RawParams
	if err := withDocumentID(&params, req.DocumentID); err != nil {
		writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, err.Error())
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	runOperation(w, r, exec, &params, media)
}

// runOperation runs the operation of a GET or POST request and writes its
// response, as gqlgen's GET and POST transports do, with their statuses
// (422, or 400 for clients that accept application/graphql-response+json,
// for a document refused before it runs), except that the response is
// written by writeResponse: gqlgen's transports json.Marshal it, which
// re-validates and compacts the data the executor has already written as
// JSON, a tenth of the CPU of a large query.
func runOperation(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, media string) {
	ctx := r.Context()
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		w.WriteHeader(refusedStatus(errs, media))
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs))
		return
	}
	if op := opCtx.Operation.Operation; r.Method == http.MethodGet && op != ast.Query {
		// getQueries refuses these before they are validated, so that
		// the answer is 405 rather than a validation error; this is the
		// safety net at the last point before anything runs.
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, graph.CodeBadUserInput, "a "+string(op)+" cannot be sent with GET: use POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeResponse(w, responses(ctx))
}

// refusedStatus is the status of a response to a request whose document
// was refused before it ran: gqlgen's choice.
func refusedStatus(errs gqlerror.List, media string) int {
	if errcode.GetErrorKind(errs) != errcode.KindProtocol {
		return http.StatusOK
	}
	if media == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

// responseMediaType is the media type of the response to r, from its
// Accept header, as gqlgen's transports choose it: application/json
// unless the client names application/graphql-response+json first, or
// names neither.
func responseMediaType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		t, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch t {
		case "*/*", "application/*", mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

// responseTail is what follows "data" in a response, in the order
// json.Marshal writes a graphql.Response.
type responseTail struct {
	Label      string         `json:"label,omitempty"`
	Path       ast.Path       `json:"path,omitempty"`
	HasNext    *bool          `json:"hasNext,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// maxPooledResponse is the largest response buffer kept for reuse: one
// exceptional response should not hold its memory for good.
const maxPooledResponse = 1 << 20

var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeResponse writes resp as json.Marshal would, byte for byte, but
// copies its data, which the executor wrote as compact JSON, instead of
// re-validating it: only the characters json.Marshal escapes for HTML
// (<, >, &, U+2028, U+2029) are escaped, and line breaks (which a Map
// scalar ends with) dropped. Only the errors and extensions, small, go
// through json.Marshal.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp == nil {
		_, _ = io.WriteString(w, "null") // as json.Marshal writes it
		return
	}
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledResponse {
			buf.Reset()
			responseBuffers.Put(buf)
		}
	}()
	buf.WriteByte('{')
	if len(resp.Errors) > 0 {
		buf.WriteString(`"errors":`)
		mustMarshal(buf, resp.Errors)
		buf.WriteByte(',')
	}
	buf.WriteString(`"data":`)
	if len(resp.Data) == 0 {
		buf.WriteString("null")
	} else {
		appendData(buf, resp.Data)
	}
	// The tail's members go after the data, its braces being the
	// envelope's; the test is omitempty's, so that the tail is never {}.
	tail := responseTail{resp.Label, resp.Path, resp.HasNext, resp.Extensions}
	if tail.Label != "" || len(tail.Path) > 0 || tail.HasNext != nil || len(tail.Extensions) > 0 {
		n := buf.Len()
		mustMarshal(buf, tail)
		buf.Bytes()[n] = ',' // the tail's opening brace
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	_, _ = w.Write(buf.Bytes())
}

// mustMarshal appends v as JSON. Errors and extensions are maps and lists
// of JSON values; gqlgen's transports panic too when they do not encode.
func mustMarshal(buf *bytes.Buffer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("encode GraphQL response: " + err.Error())
	}
	buf.Write(b)
}

// appendData appends JSON data as json.Marshal would a json.RawMessage:
// escaped for HTML, without whitespace. In compact JSON a line break can
// only be whitespace (within a string it is escaped), and it is the only
// whitespace gqlgen's marshallers write (a Map scalar ends with one).
//
// Most responses have none of these bytes, and a dashboard's is 200 KB
// or more: the data is searched for each of them with bytes.IndexByte
// (vectorised), each search resumed only once its find is passed, and
// copied between the finds, instead of being switched on byte by byte
// (0.35 ms of a 5 ms dashboard request, measured under protoloop-bench
// read).
func appendData(buf *bytes.Buffer, data []byte) {
	buf.Grow(len(data))
	var next [len(dataSpecials)]int // where each of dataSpecials is next found, or len(data)
	for k := range next {
		next[k] = indexFrom(data, 0, dataSpecials[k])
	}
	start := 0
	for {
		k := 0
		for j := 1; j < len(next); j++ {
			if next[j] < next[k] {
				k = j
			}
		}
		i := next[k]
		if i == len(data) {
			break
		}
		next[k] = indexFrom(data, i+1, dataSpecials[k])
		var esc string
		skip := 1
		switch data[i] {
		case '<':
			esc = `\u003c`
		case '>':
			esc = `\u003e`
		case '&':
			esc = `\u0026`
		case '\n':
		case 0xE2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
			if i+2 >= len(data) || data[i+1] != 0x80 || data[i+2]&^1 != 0xA8 {
				continue
			}
			esc = `\u202` + string(rune('8'+data[i+2]-0xA8))
			skip = 3 // the other two bytes are none of dataSpecials
		}
		buf.Write(data[start:i])
		buf.WriteString(esc)
		start = i + skip
	}
	buf.Write(data[start:])
}

// dataSpecials are the bytes appendData changes, or looks at again (0xE2
// starts U+2028 and U+2029, among other characters).
const dataSpecials = "<>&\n\xe2"

// indexFrom returns the index of the first c in data at or after from, or
// len(data).
func indexFrom(data []byte, from int, c byte) int {
	if from >= len(data) {
		return len(data)
	}
	if i := bytes.IndexByte(data[from:], c); i >= 0 {
		return from + i
	}
	return len(data)
}
