package protocol

import (
	"errors"
	"strconv"
)

// Error is a protocol-level error that the WebSocket edge turns into a
// pusher:error (and, when Close, a close frame with the same code). Keeping
// the code with the error lets deep layers decide the client's reaction
// without knowing about frames.
type Error struct {
	Code    int // 0 encodes as JSON null
	Message string
	Close   bool
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return "pusher error: " + e.Message
	}
	return "pusher error " + strconv.Itoa(e.Code) + ": " + e.Message
}

// MessageOf is what a client is told about err: the message of a
// protocol Error (without Error()'s "pusher error:" prefix, which is for
// logs), or err's text.
func MessageOf(err error) string {
	if pe, ok := errors.AsType[*Error](err); ok {
		return pe.Message
	}
	return err.Error()
}

// invalid returns a fresh code-0 error for malformed client input; fresh so
// no caller can mutate an error another caller holds.
func invalid(msg string) *Error { return &Error{Message: msg} }
