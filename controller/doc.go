// Package controller keeps samsa's cluster metadata the KRaft way: typed
// records (records.go) are ordered and stored by a Quorum (quorum.go), applied
// in order to an immutable Image (image.go, apply.go), and every committed
// change is published as a Delta (delta.go) that brokers react to.
//
// The Controller (controller.go) is both the active controller of this node,
// which validates admin operations against the current image and turns them
// into records (topics.go, configs.go, brokers.go), and the broker-side
// metadata view, which applies what the quorum commits.
//
// The single-node foundation stores the log in a local durable file
// (LocalQuorum, localquorum.go, format in FORMAT.md). A replicated quorum is a
// second Quorum implementation driving the same StateMachine; nothing else
// changes.
//
// Lock order: Controller.opMu, then the quorum's own lock, then the loader's
// lock (held while the image is replaced and deltas are delivered).
package controller
