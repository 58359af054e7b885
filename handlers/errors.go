package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/record"
)

// errorCode maps a domain error to a Kafka error code and message. Domain
// packages return kerr errors wrapped with context, or their own sentinels;
// anything else is an UNKNOWN_SERVER_ERROR and is logged, since it means a
// case nobody mapped.
func (h *Handlers) errorCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	msg := err.Error()
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code, &msg
	case errors.Is(err, plog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code, &msg
	case errors.Is(err, plog.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code, &msg
	case errors.Is(err, plog.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code, &msg
	case errors.Is(err, plog.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code, &msg
	case errors.Is(err, plog.ErrLogClosed):
		return kerr.NotLeaderForPartition.Code, &msg
	case errors.Is(err, record.ErrInvalidRecord):
		return kerr.InvalidRecord.Code, &msg
	case errors.Is(err, record.ErrCorrupt):
		return kerr.CorruptMessage.Code, &msg
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code, &msg
	}
	h.d.Logger.Error("unmapped error answered as UNKNOWN_SERVER_ERROR", slog.Any("err", err))
	return kerr.UnknownServerError.Code, &msg
}

// code is errorCode without the message, for responses that have none.
func (h *Handlers) code(err error) int16 {
	c, _ := h.errorCode(err)
	return c
}

// isErr reports whether err carries the Kafka error ke.
func isErr(err error, ke *kerr.Error) bool {
	var got *kerr.Error
	return errors.As(err, &got) && got.Code == ke.Code
}

// checkAnswered fails a controller call that did not answer one result per
// entry of the request (got of want, what names the entries): the handlers
// match results to the request by position, so a short answer fails the
// whole request as UNKNOWN_SERVER_ERROR instead of mislabelling partitions.
func checkAnswered(got, want int, what string) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("%w: controller answered %d of %d %s", kerr.UnknownServerError, got, want, what)
}
