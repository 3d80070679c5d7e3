import { Injectable } from '@nestjs/common';

/** Set when the backend starts shutting down: registrations get 503 from then on. */
@Injectable()
export class ShutdownState {
  private shuttingDown = false;

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  begin(): void {
    this.shuttingDown = true;
  }
}
