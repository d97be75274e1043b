// Package badinput is Herald's standing catalogue of bad input: a
// table-driven black-box suite where each row is one malformed WebSocket
// frame or REST request together with the exact answer the protocol asks
// for (close code and reason, pusher:error code and message,
// pusher:subscription_error payload, HTTP status and JSON body). After
// every row a bystander connection, subscribed to a public channel before
// the first row, must still receive an event published through the signed
// REST API: bad input from one client never disturbs another.
//
// One server runs for the whole table (TestMain). Rows whose connection
// stays open share one connection per group and prove "no answer" with a
// pusher:ping / pusher:pong round trip; rows that end in a close frame get
// a connection each and run side by side, since each waits out the
// server's close grace period.
//
// A row the server currently answers wrongly keeps the expectation the
// spec asks for and carries a skip reason, so it is reported by t.Skip
// until the server is fixed.
package badinput
