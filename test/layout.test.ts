/**
 * src/ has the shape README.md's "Layout" describes: no import circle, and no
 * import from a layer to one above it (tools/layers.ts draws the graph from the
 * imports themselves, `import type` included).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { circles, importGraph, LAYERS, layerOf, upwardImports } from '../tools/layers.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

describe('the layout of src/', () => {
  const graph = importGraph(SRC);

  it('reads the real tree', () => {
    assert.ok(graph.edges.size > 50, `${graph.edges.size} modules`);
    assert.ok(graph.edges.get('transport/listener.ts')?.includes('api/handler.ts'), 'the listener hands requests to the API');
  });

  it('puts every folder of src/ in a layer', () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    for (const folder of folders) assert.notEqual(layerOf(folder), undefined, `${folder} is in no layer of tools/layers.ts`);
    assert.equal(new Set(LAYERS.flat()).size, LAYERS.flat().length, 'a folder is in one layer only');
  });

  it('has no import circle', () => {
    assert.deepEqual(circles(graph), []);
  });

  it('has no import from a layer to the same or a higher one', () => {
    assert.deepEqual(upwardImports(graph), []);
  });

  it('would see a circle and an upward import (the checks can fail)', () => {
    const edges = new Map(graph.edges);
    edges.set('storage/engine.ts', [...(edges.get('storage/engine.ts') ?? []), 'api/handler.ts']);
    const bad = { edges };
    assert.ok(upwardImports(bad).some((u) => u.from === 'storage/engine.ts' && u.to === 'api/handler.ts'));
    assert.ok(circles(bad).some((c) => c.includes('storage/engine.ts') && c.includes('api/handler.ts')));
  });
});
