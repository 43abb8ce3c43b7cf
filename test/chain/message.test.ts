import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actorIdOf, idAddress, minerEntropy } from '../../src/chain/address.js';
import { messageCid } from '../../src/chain/message.js';
import { drawRandomness } from '../../src/chain/randomness.js';

describe('chain encodings', () => {
  it('computes message CIDs like Lotus (vector from the Lotus v1 API docs example)', () => {
    const cid = messageCid({
      Version: 0,
      To: 'f01001',
      From: 'f1aaaqeayeaudaocajbifqydiob4ibceqt2oc2pvy',
      Nonce: 7,
      Value: '1000000000000000000',
      GasLimit: 1000000,
      GasFeeCap: '150000',
      GasPremium: '100000',
      Method: 0,
      Params: null,
    });
    assert.equal(cid, 'bafy2bzacedeeblnjg6pq2htp5yyblbytljhuzutqyb62h2y4jkf5vkogo4y22');
  });

  it('encodes the miner entropy as the CBOR of its ID address bytes', () => {
    assert.equal(Buffer.from(minerEntropy(1000)).toString('hex'), '4300e807');
    assert.equal(Buffer.from(minerEntropy(1000)).toString('base64'), 'QwDoBw==');
  });

  it('parses ID addresses and refuses others, naming them', () => {
    assert.equal(actorIdOf('t01000'), 1000);
    assert.equal(actorIdOf('f0100'), 100);
    assert.equal(idAddress(1000), 't01000');
    assert.throws(() => actorIdOf('f1aaaqeayeaudaocajbifqydiob4ibceqt2oc2pvy'), /is not an ID address/);
    assert.throws(() => actorIdOf('x01000'), /invalid Filecoin address "x01000"/);
  });

  it('draws randomness separated by tag, epoch and entropy', () => {
    const base = new Uint8Array(32).fill(5);
    const e = minerEntropy(1000);
    const r = drawRandomness(base, 5, 10, e);
    assert.equal(r.length, 32);
    assert.deepEqual(drawRandomness(base, 5, 10, e), r);
    assert.notDeepEqual(drawRandomness(base, 6, 10, e), r);
    assert.notDeepEqual(drawRandomness(base, 5, 11, e), r);
    assert.notDeepEqual(drawRandomness(base, 5, 10, minerEntropy(1001)), r);
  });
});
