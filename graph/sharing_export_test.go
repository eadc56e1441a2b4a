package graph

// CountPayloads starts counting the subscription payloads of document
// that are encoded and that are shared, and returns a function giving
// the counts since the call.
func CountPayloads(document string) func() (encoded, shared int64) {
	c, _ := payloadCounts.LoadOrStore(document, &payloadCount{})
	countingPayloads.Store(true)
	pc := c.(*payloadCount)
	encoded, shared := pc.encoded.Load(), pc.shared.Load()
	return func() (int64, int64) { return pc.encoded.Load() - encoded, pc.shared.Load() - shared }
}
