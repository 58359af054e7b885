// Package protocol is samsa's Kafka wire layer: it accepts connections on a
// listener, reads size-prefixed request frames, parses request headers,
// answers ApiVersions itself (KIP-511, KIP-584) and hands every other
// request, decoded with kmsg, to a Handler. Responses leave each connection
// in request order.
//
// It knows nothing of partitions or of any other samsa package; the message
// types all come from franz-go's kmsg.
//
// # Connection model
//
// Each connection has two goroutines, both owned by the Server:
//
//   - the reader reads a frame, decodes it, calls Handler.Handle (one request
//     at a time, in request order, which is what keeps one connection's
//     appends in order for idempotent producers) and queues the Reply;
//   - the writer takes replies in order, runs Reply.Wait where set (this is
//     where acks=all produces and long-poll fetches park), encodes the
//     response and writes it through a bufio.Writer that is flushed whenever
//     the queue runs empty, so pipelined small responses share a syscall.
//
// The queue holds at most Config.MaxInFlight replies; when it is full the
// reader stops reading and TCP pushes back on the client. Unlike Kafka, which
// mutes a channel until its one in-flight request is answered, samsa lets a
// client pipeline.
//
// Any protocol violation (bad frame size, unknown API key, a version outside
// the advertised range, a body that does not decode or has trailing bytes),
// a Handler error or a panic closes that one connection, as Kafka's
// SocketServer does; queued responses are dropped.
//
// # Locks
//
// Server.mu guards the listener, the closed flag and the connection set. It is
// the only mutex; conn state is confined to its two goroutines, and the reply
// channel carries everything between them.
package protocol
