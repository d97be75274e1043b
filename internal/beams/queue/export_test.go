package queue

// Names the black-box tests need to damage a database file.
var (
	BucketJobs  = bucketJobs
	BucketIndex = bucketIndex
	SeqKey      = seqKey
)
