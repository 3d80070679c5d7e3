import { Controller, Delete, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import {
  BACKEND_ROUTES,
  CancelSweepResponseDto,
  SweepQueryDto,
  SweepResponseDto,
} from '@ktrdr/contracts';
import { ApiErrors } from '../common/api-errors.decorator';
import { SweepsService } from './sweeps.service';

const ID_PARAM = { name: 'id', description: 'sweep_id' };

@ApiTags('sweeps')
@Controller()
export class SweepsController {
  constructor(private readonly sweeps: SweepsService) {}

  @Get(BACKEND_ROUTES.sweep)
  @ApiOperation({
    summary: 'A sweep: its children with status and headline metrics, counts by status',
    description:
      'Children in grid order, or ranked by a numeric metric of their results with `sort` ' +
      '(e.g. sharpe_ratio; `order` desc by default); children without the metric come last.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: SweepResponseDto })
  @ApiErrors(400, 404)
  async get(@Param('id') id: string, @Query() query: SweepQueryDto): Promise<SweepResponseDto> {
    return { success: true, data: await this.sweeps.get(id, query) };
  }

  @Delete(BACKEND_ROUTES.sweep)
  @ApiOperation({ summary: 'Cancel every child of a sweep that has not finished' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: CancelSweepResponseDto })
  @ApiErrors(400, 404)
  cancel(@Param('id') id: string): Promise<CancelSweepResponseDto> {
    return this.sweeps.cancel(id);
  }
}
