import { Module } from '@nestjs/common';
import { OperationsModule } from '../operations/operations.module';
import { TrainingsController } from './trainings.controller';

@Module({ imports: [OperationsModule], controllers: [TrainingsController] })
export class TrainingsModule {}
