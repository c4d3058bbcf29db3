/** The services the bench calls; a module of their own so that workers and processes can load them. */
import { Service } from '../src/index.js';

export class Echo extends Service {
  echo(x: number): number {
    return x;
  }
}

export class Sink extends Service {
  count = 0;
  hit(): void {
    this.count++;
  }
  total(): number {
    return this.count;
  }
}

export const MODULE = import.meta.url;
