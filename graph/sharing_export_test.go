package graph

// CountPayloads starts counting the subscription payloads of document
// that are encoded and that are shared, and returns the counts so far.
func CountPayloads(document string) func() (encoded, shared int64) {
	c, _ := payloadCounts.LoadOrStore(document, &payloadCount{})
	countingPayloads.Store(true)
	pc := c.(*payloadCount)
	return func() (int64, int64) { return pc.encoded.Load(), pc.shared.Load() }
}
