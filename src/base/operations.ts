/** What a request to a namespace does: its operation, for access rules, metrics and logs. */
export type Operation = 'read' | 'write' | 'delete' | 'touch';

/** The rights a client can be granted (a touch needs `write`: it changes state). */
export type Right = 'read' | 'write' | 'delete';
