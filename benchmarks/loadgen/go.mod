module firkin/benchmarks/loadgen

go 1.22
